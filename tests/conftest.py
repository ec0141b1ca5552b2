"""Shared test set-up: quiet TensorFlow logs, a fixed seed per test, the
backend markers (``tensorflow_only``, ``jax_only``) and real float64 on JAX."""

# First: the recipes package imports TensorFlow with its start-up log lines
# (CUDA probes, CPU notes) kept off the console, and sets TF_CPP_MIN_LOG_LEVEL.
import recipes  # noqa: F401

# isort: split
import tempfile

import keras
import pytest
from hypothesis import settings

SMOKE_EXAMPLES = 10  # hypothesis examples per property in a --smoke run (the suite: 200)


def pytest_addoption(parser):
    parser.addoption(
        "--smoke",
        action="store_true",
        help="day-to-day run of about a minute: the first case of every test "
        f"function, no slow tests, {SMOKE_EXAMPLES} examples per property",
    )


def pytest_configure(config):
    # Before the test modules are imported, so their settings inherit it.
    settings.register_profile("suite", max_examples=200)
    settings.register_profile("smoke", max_examples=SMOKE_EXAMPLES)
    settings.load_profile("smoke" if config.getoption("--smoke") else "suite")


def _smoke_selection(config, items):
    """The first collected case of each test function, slow tests left out."""
    seen, kept, dropped = set(), [], []
    for item in items:
        key = (item.nodeid.split("::")[0], item.originalname)
        if "slow" in item.keywords or key in seen:
            dropped.append(item)
        else:
            seen.add(key)
            kept.append(item)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


def pytest_collection_modifyitems(config, items):
    """Tests about one backend itself run only on it: ``tensorflow_only``
    (tf.distribute, tf.data, SavedModel export, tf.SparseTensor) and
    ``jax_only`` (keras.distribution on JAX devices). ``--smoke`` keeps one
    case per test function."""
    if config.getoption("--smoke"):
        _smoke_selection(config, items)
    backend = keras.backend.backend()
    for marker in ("tensorflow_only", "jax_only"):
        wanted = marker.removesuffix("_only")
        if backend == wanted:
            continue
        skip = pytest.mark.skip(reason=f"about {wanted} itself; KERAS_BACKEND={backend}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """One TFDS data directory per worker process: each data set is built
    once, by whichever test needs it first."""
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.fixture
def mock_catalog(tmp_path, monkeypatch):
    """``tfds.testing.mock_data``, for a catalog data set without a download.

    TFDS looks up a catalog data set's metadata in its bucket through a
    temporary folder it never removes; within the test that folder lands in
    ``tmp_path`` instead of the machine's temporary directory.
    """
    import tensorflow_datasets as tfds

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tfds.testing.mock_data


@pytest.fixture
def float64():
    """Real float64 arithmetic for one test (``usefixtures("float64")``).

    TensorFlow computes float64 inputs in float64; JAX narrows them to
    float32 unless ``jax_enable_x64`` is on, so it is switched on for the test.
    """
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
