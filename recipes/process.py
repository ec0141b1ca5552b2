"""What the recipes' commands do to their own process before a recipe runs:
a quiet console and a garbage collector spared the work of the imports.

It runs in the processes of the command-line entry points (``python -m
recipes`` and ``python -m recipes.<name>``, the processes they start, the
test workers), never on a plain ``import recipes`` from a user's script or
notebook, whose collector, file descriptors and environment stay as they
were (``recipes/__init__.py`` tells the two apart).

The console: TensorFlow 2.21 prints C++ log lines at import (CUDA probes,
CPU feature notes) before it reads ``TF_CPP_MIN_LOG_LEVEL``, so TensorFlow
is imported with file descriptor 2 pointed at a temporary file, after
``TF_CPP_MIN_LOG_LEVEL=3`` is set; if the import fails, what it printed is
shown. ``--verbose`` on the command line, or a ``TF_CPP_MIN_LOG_LEVEL`` the
user set, keeps every line. Python errors are never hidden.

The collector: TensorFlow's import makes about a million objects, and the
collector, started by their count, walked them again and again meanwhile;
it is paused for the import, and then every object alive is frozen out of
its reach, so that collections during the run walk only what the run makes,
and the process ends without Python's last full collection.
"""

import atexit
import contextlib
import gc
import logging
import os
import sys
import tempfile

# Set by a command ("quiet" or "verbose") and inherited by the processes it
# starts (``--jobs``), which start the same way.
STARTED = "RECIPES_COMMAND"


def started_as_command(package="recipes"):
    """Whether this process runs ``python -m <package>[.<name>]``, or was
    started by such a command. Asked while the package is imported: Python
    sets ``sys.argv[0]`` to ``"-m"`` while it locates the module to run."""
    if os.environ.get(STARTED) in ("quiet", "verbose"):
        return True
    if sys.argv[:1] != ["-m"]:
        return False
    argv = getattr(sys, "orig_argv", [])
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
    return module == package or module.startswith(package + ".")


@contextlib.contextmanager
def children_start_as_commands(verbose=False):
    """The processes started in the block start as this package's commands
    do (``start_command``), quiet unless ``verbose``: a command's own mark
    is inherited; in any other process it is set for the block only."""
    if STARTED in os.environ:
        yield
        return
    os.environ[STARTED] = "verbose" if verbose else "quiet"
    try:
        yield
    finally:
        del os.environ[STARTED]


def start_command():
    """Set up this process as a recipes command: TensorFlow imported quietly
    with the collector paused, then everything alive frozen out of the
    collector's reach, and the exit without the last collection."""
    if STARTED in os.environ:  # as the command that started this process
        quiet = os.environ[STARTED] == "quiet"
    else:
        quiet = "--verbose" not in sys.argv[1:] and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        os.environ[STARTED] = "quiet" if quiet else "verbose"
    if quiet:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" not in sys.modules:
        with collector_paused():
            import_tensorflow(quiet)
    spare_the_collector()


def import_tensorflow(quiet=True):
    """``import tensorflow``, its C++ start-up lines kept off the console if
    ``quiet`` (shown after all if the import fails)."""
    if not quiet:
        import tensorflow

        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def collector_paused():
    """Python's garbage collector off for the block (it ends as it was), and
    the objects made in it put straight into the oldest generation: a freeze
    takes them out of the collector's reach, the unfreeze puts them back
    into that generation, where the next full collection sees them. Without
    that the next two collections walk them all. Skipped if the process has
    frozen objects of its own, which the unfreeze would release too."""
    collecting, frozen = gc.isenabled(), gc.get_freeze_count()
    gc.disable()
    try:
        yield
    finally:
        if not frozen:
            gc.freeze()
            gc.unfreeze()
        if collecting:
            gc.enable()


def spare_the_collector():
    """For a command's process, once its modules are imported: every object
    alive now is frozen out of the garbage collector's reach, so that the
    collections during the run walk only what the run creates; and the
    process ends without Python's last full collection: at exit, after the
    exit handlers registered later than this call (they run first), every
    object still alive is frozen too and its memory left to the OS.

    The price: objects in reference cycles, which include the globals of
    most modules, are not finalized at exit, and a cycle among the frozen
    objects is never collected. Only for a process run as a command, where
    everything that must reach a file is closed explicitly, as the recipes'
    commands do (``with`` blocks; Keras' callbacks close their writers at
    the end of ``fit``; logging flushes in its own exit handler).
    """
    gc.freeze()
    atexit.register(gc.freeze)


def quiet_logs(quiet=True):
    """Keep the frameworks' Python log lines (TensorFlow's logger, absl,
    TFDS) off the console, or bring them back."""
    import absl.logging
    import tensorflow as tf

    level = logging.ERROR if quiet else logging.INFO
    tf.get_logger().setLevel(level)
    logging.getLogger("tensorflow_datasets").setLevel(level)
    absl.logging.set_verbosity(absl.logging.ERROR if quiet else absl.logging.INFO)
