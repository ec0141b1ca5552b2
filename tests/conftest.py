"""Shared test set-up: quiet TensorFlow logs, a fixed seed per test, the
backend markers (``tensorflow_only``, ``jax_only``), long tests first
(longest first once a run has measured them), and real float64 on JAX.

Keras (and with it the backend: TensorFlow takes 5-8 s to import on 2 cores)
is imported only where tests run: in each xdist worker, or in the one
process of ``pytest -n 0``. The controlling process of ``pytest -n auto``
only hands out tests and never needs it; importing it there made every run
wait for one more import before the workers started.
"""

import collections
import gc
import importlib
import math
import os
import tempfile

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


def _runs_tests(config):
    """Whether this process runs tests: an xdist worker, or pytest without
    workers (``-n 0``, ``-p no:xdist``)."""
    if hasattr(config, "workerinput"):
        return True
    return config.getoption("numprocesses", default=None) in (None, 0)


def pytest_configure(config):
    # Before the test modules are imported, so their settings inherit it.
    settings.register_profile("suite", max_examples=200)
    settings.register_profile("smoke", max_examples=SMOKE_EXAMPLES)
    settings.load_profile("smoke" if config.getoption("--smoke") else "suite")
    if _runs_tests(config):
        # Before any test module imports Keras, as the recipes' commands
        # start: TensorFlow imported with its start-up log lines (CUDA
        # probes, CPU notes) kept off the console, TF_CPP_MIN_LOG_LEVEL set,
        # and the imported modules' objects out of the collector's reach
        # (the collections during the run: 9 s of CPU in place of 16 s, the
        # two workers of a full run together), and the last worker's exit,
        # the end of the run, 1.5 s sooner without the exit's full
        # collection (the tests' files are closed by then).
        importlib.import_module("recipes.process").start_command()


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
    case per test function.

    The long tests go first: the slow ones (seconds to a minute each, most
    of them waiting on processes they started) and the hypothesis
    properties (hundreds of examples each; minutes on JAX, which compiles
    every new shape). With ``--maxschedchunk=1`` (pyproject's addopts) xdist
    hands each worker its next test when it has fewer than two left, so the
    long ones are spread over the workers from the start and the many short
    tests fill in at the end, instead of one worker finishing a minutes-long
    test while the others have nothing left to do.

    Once a run has measured them (pytest's cache, ``.pytest_cache``), every
    test goes in the order of its last duration, longest first: then also
    the tests of a few seconds that no marker names (a model trained for 100
    steps) are handed out early instead of being the last ones left. Tests
    the cache does not know go first if long, last if not; without the
    cache (a fresh clone, ``-p no:cacheprovider``) the order above.
    """
    import keras

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
    last = _last_durations(config)
    if last:  # longest first, as measured by the previous run
        items.sort(key=lambda item: -last.get(item.nodeid, math.inf if _long(item) else 0.0))
    else:  # stable: otherwise as collected
        items.sort(key=lambda item: not _long(item))


def _long(item):
    """A slow test, or a hypothesis property."""
    return "slow" in item.keywords or hasattr(getattr(item, "function", None), "hypothesis")


def _durations_key(config):
    """Where the cache keeps the last durations: one record per backend and
    per kind of run (a --smoke property runs a twentieth of its examples).
    The backend is read from KERAS_BACKEND, the same way in the process that
    writes the record (xdist's controller, which never imports Keras) and in
    those that read it (the workers)."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    kind = "smoke" if config.getoption("--smoke") else "suite"
    return f"keras-notes/durations/{backend}-{kind}"


def _last_durations(config):
    cache = getattr(config, "cache", None)
    return cache.get(_durations_key(config), {}) if cache is not None else {}


_DURATIONS = collections.defaultdict(float)  # this run's, test id -> seconds


def pytest_runtest_logreport(report):
    # Set-up, call and tear-down of each test, gathered where every report
    # ends up: in xdist's controller (or in the one process of ``-n 0``).
    _DURATIONS[report.nodeid] += report.duration


def pytest_sessionfinish(session):
    config = session.config
    if hasattr(config, "workerinput") or not _DURATIONS:
        return  # a worker: its reports reach the controller, which records them
    cache = getattr(config, "cache", None)
    if cache is not None:
        durations = {**_last_durations(config), **_DURATIONS}
        cache.set(_durations_key(config), {k: round(v, 3) for k, v in durations.items()})


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
def aborted_fit():
    """For a test whose ``fit`` ends in an exception: what the exception
    leaves in reference cycles (its frames, and through them Keras' epoch
    iterator) is collected as soon as the test ends (TensorFlow only).

    Left to a later collection, such a tf.data iterator blocks the thread
    that destroys it: TensorFlow 2.21 waits for its autotuning thread, which
    does not wake up for the cancellation, until its next scheduled wake-up.
    Measured with a fit stopped mid-epoch, by the iterator's age: 0-20 s,
    0.25-0.46 s; 30 s, 10.9 s; 45 s, 36.9 s; 90 s, 0.3 s. In the suite that
    was 5-10 s idle at the end of a worker, and once longer than xdist's
    10 s, which then killed the worker.
    """
    yield
    import keras

    if keras.backend.backend() == "tensorflow":
        gc.collect()


@pytest.fixture
def float64():
    """Real float64 arithmetic for one test (``usefixtures("float64")``).

    TensorFlow computes float64 inputs in float64; JAX narrows them to
    float32 unless ``jax_enable_x64`` is on, so it is switched on for the test.
    """
    import keras

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
    import keras

    keras.utils.set_random_seed(1234)
    yield
