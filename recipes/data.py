"""Real data, offline, the TensorFlow Datasets way.

scikit-learn ships real data sets inside its wheel; each is wrapped here as a
TFDS ``GeneratorBasedBuilder`` with a deterministic train/test split (80/20,
stratified for classes, fixed seed) and feature metadata, so recipes read
them with ``builder.as_dataset`` like any catalog data set:

| name | task | examples | features |
|---|---|---|---|
| ``breast_cancer`` | binary: malignant (0) / benign (1) | 569 | 30 measurements |
| ``diabetes`` | regression: disease progression after a year | 442 | 10 baseline variables |
| ``digits`` | 10 classes | 1797 | 8x8 grey images, values 0-16 |
| ``digits_multilabel`` | 4 labels at once: even, >= 5, prime, closed loop | 1797 | 8x8 images |

``digits_multilabel`` is the notes' "photo with cat & tree -> [1, 0, 1, 0]"
case on real images: a 6 is [even, >= 5, not prime, loop] = [1, 1, 0, 1].
The loop digits are 0, 6, 8, 9 (a handwritten 4 is usually open).

Any other name (``mnist``, ...) goes to the TFDS catalog, which needs a
network the first time.
"""

import contextlib
import dataclasses
import io
import sys
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

SPLIT_SEED = 0
TEST_FRACTION = 0.2
MULTILABEL_NAMES = ("even", "five_or_more", "prime", "closed_loop")


def _split(x, y, stratify):
    index = np.arange(len(x))
    train, test = train_test_split(
        index,
        test_size=TEST_FRACTION,
        random_state=SPLIT_SEED,
        stratify=y if stratify else None,
    )
    return {"train": np.sort(train), "test": np.sort(test)}


def digit_attributes(digits):
    """The multi-label targets of digits: [even, >= 5, prime, closed loop]."""
    digits = np.asarray(digits)
    return np.stack(
        [
            digits % 2 == 0,
            digits >= 5,
            np.isin(digits, [2, 3, 5, 7]),
            np.isin(digits, [0, 6, 8, 9]),
        ],
        axis=-1,
    ).astype("int64")


class _LocalInfo(tfds.core.DatasetInfo):
    """``DatasetInfo`` of a data set built on this machine.

    Before a data set is prepared, TFDS looks for its metadata in its public
    bucket, and its look-up makes a temporary folder it never removes: every
    first build of a local data set (each test's fresh data directory, each
    new user) left an empty ``/tmp/tmp...tfds`` behind. The bucket holds
    nothing for these data sets, so they skip the look-up.
    """

    def initialize_from_bucket(self):
        return None


class _SklearnBuilder(tfds.core.GeneratorBasedBuilder):
    """A scikit-learn data set as a TFDS builder (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict] = {"1.0.0": "Initial release."}
    stratify = True

    def _load(self):
        """Return (x, y, metadata) from scikit-learn."""
        raise NotImplementedError

    def _features(self):
        raise NotImplementedError

    def _info(self):
        return _LocalInfo(
            builder=self,
            description=self.__doc__,
            features=self._features(),
            supervised_keys=("features", "label"),
            homepage="https://scikit-learn.org/stable/datasets/toy_dataset.html",
            metadata=tfds.core.MetadataDict(self._metadata()),
        )

    def _metadata(self):
        return {}

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the data is in scikit-learn's wheel
        x, y = self._load()
        splits = _split(x, y if y.ndim == 1 else None, self.stratify)
        return {name: self._generate_examples(x, y, index) for name, index in splits.items()}

    def _generate_examples(self, x, y, index):
        for i in index:
            yield int(i), {"features": x[i], "label": y[i]}


class BreastCancer(_SklearnBuilder):
    """Wisconsin breast cancer: 569 tumours, 30 measurements, malignant (0) or benign (1)."""

    name = "breast_cancer"

    def _load(self):
        data = sk_datasets.load_breast_cancer()
        return data.data.astype("float32"), data.target.astype("int64")

    def _features(self):
        return tfds.features.FeaturesDict(
            {
                "features": tfds.features.Tensor(shape=(30,), dtype=np.float32),
                "label": tfds.features.ClassLabel(names=["malignant", "benign"]),
            }
        )

    def _metadata(self):
        return {"feature_names": list(sk_datasets.load_breast_cancer().feature_names)}


class Diabetes(_SklearnBuilder):
    """Diabetes: 442 patients, 10 baseline variables, disease progression after one year."""

    name = "diabetes"
    stratify = False

    def _load(self):
        data = sk_datasets.load_diabetes(scaled=False)
        return data.data.astype("float32"), data.target.astype("float32")

    def _features(self):
        return tfds.features.FeaturesDict(
            {
                "features": tfds.features.Tensor(shape=(10,), dtype=np.float32),
                "label": tfds.features.Scalar(dtype=np.float32),
            }
        )

    def _metadata(self):
        return {"feature_names": list(sk_datasets.load_diabetes().feature_names)}


class Digits(_SklearnBuilder):
    """Handwritten digits: 1797 grey 8x8 images (values 0-16), classes 0-9."""

    name = "digits"

    def _load(self):
        data = sk_datasets.load_digits()
        return data.images.astype("float32")[..., None], data.target.astype("int64")

    def _features(self):
        return tfds.features.FeaturesDict(
            {
                "features": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.float32),
                "label": tfds.features.ClassLabel(num_classes=10),
            }
        )


class DigitsMultilabel(_SklearnBuilder):
    """Digits with 4 true attributes at once: [even, >= 5, prime, closed loop]."""

    name = "digits_multilabel"

    def _load(self):
        data = sk_datasets.load_digits()
        return data.images.astype("float32")[..., None], digit_attributes(data.target)

    def _split_generators(self, dl_manager):
        # Stratify on the digit, so the split equals the `digits` split.
        del dl_manager
        digits = sk_datasets.load_digits().target
        x, y = self._load()
        return {
            name: self._generate_examples(x, y, index)
            for name, index in _split(x, digits, stratify=True).items()
        }

    def _features(self):
        return tfds.features.FeaturesDict(
            {
                "features": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.float32),
                "label": tfds.features.Tensor(shape=(4,), dtype=np.int64),
            }
        )

    def _metadata(self):
        return {"label_names": list(MULTILABEL_NAMES)}


LOCAL_BUILDERS = {cls.name: cls for cls in (BreastCancer, Diabetes, Digits, DigitsMultilabel)}


@dataclasses.dataclass
class Data:
    """Train/test arrays, features standardised with train statistics."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: tfds.core.DatasetInfo


def _as_arrays(builder, split):
    """A split as (features, labels) NumPy arrays, read in batches of 4096
    (example by example through Python took 0.5-1.4 s per digits split)."""
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    batches = list(tfds.as_numpy(dataset.batch(4096)))
    return tuple(np.concatenate(parts) for parts in zip(*batches, strict=True))


def prepared_builder(name, data_dir=None, verbose=False):
    """The TFDS builder of data set ``name``, its data built (a local
    builder) or downloaded (a catalog name) into ``data_dir`` if not yet."""
    if name in LOCAL_BUILDERS:
        builder = LOCAL_BUILDERS[name](data_dir=data_dir)
        prepare_locally(builder, verbose)
    else:
        builder = tfds.builder(name, data_dir=data_dir)
        builder.download_and_prepare()
    return builder


def load(name, data_dir=None, standardize="features", verbose=False):
    """Load a data set by name as NumPy arrays.

    Args:
        name: a local builder (``breast_cancer``, ``diabetes``, ``digits``,
            ``digits_multilabel``) or any TFDS catalog name (downloads).
        data_dir: where TFDS keeps prepared data (default: TFDS' own).
        standardize: ``"features"`` (zero mean, unit variance per feature,
            statistics from the training split only), ``"images"`` (scale to
            [0, 1] by the training split's maximum) or ``None``.
        verbose: show TFDS' own output when a local data set is built.

    Returns:
        ``Data`` with float32 features.
    """
    builder = prepared_builder(name, data_dir, verbose)
    splits = {split: _as_arrays(builder, split) for split in ("train", "test")}
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    x_train, x_test = x_train.astype("float32"), x_test.astype("float32")
    if standardize == "features":
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
        std[std == 0] = 1.0
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    elif standardize == "images":
        scale = float(x_train.max()) or 1.0
        x_train, x_test = x_train / scale, x_test / scale
    elif standardize is not None:
        raise ValueError(
            "Argument `standardize` must be 'features', 'images' or None. "
            f"Received: standardize={standardize!r}"
        )
    check_finite(name, x_train, x_test)
    return Data(name, x_train, y_train, x_test, y_test, builder.info)


def prepare_locally(builder, verbose=False):
    """Build a local data set into TFDS' data directory, once.

    TFDS announces every preparation as "Downloading and preparing dataset
    Unknown size ..." with progress bars, which is wrong for data copied from
    scikit-learn's wheel: unless ``verbose``, that output is replaced by one
    line on stderr (and shown after all if the preparation fails).
    """
    if builder.is_prepared():
        return
    if verbose:
        builder.download_and_prepare()
        return
    print(
        f"Building data set {builder.name!r} from scikit-learn's copy into {builder.data_dir} "
        "(once)",
        file=sys.stderr,
    )
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            builder.download_and_prepare()
    except BaseException:
        sys.stderr.write(captured.getvalue())
        raise


def check_finite(name, *arrays):
    """Stop with a clear message if the data holds NaN or inf."""
    for array in arrays:
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(
                f"Data set {name!r} holds {int(bad.sum())} NaN or infinite values "
                f"(first at index {tuple(int(i) for i in np.argwhere(bad)[0])}); "
                "clean it before training."
            )
