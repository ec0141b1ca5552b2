"""Runnable recipes: one per task type, custom_layers vs Keras built-ins.

Importing the package keeps TensorFlow's C++ log lines (CUDA probes, CPU
feature notes, op-attribute warnings) off the console, unless the command
line asks for ``--verbose`` or ``TF_CPP_MIN_LOG_LEVEL`` is already set: it
sets ``TF_CPP_MIN_LOG_LEVEL=3`` and imports TensorFlow with the process'
stderr pointed at a temporary file, because TensorFlow 2.21 prints its
import-time lines before it reads that variable. If the import fails, what
it printed is shown. Python errors are never hidden. Processes started by
``python -m recipes`` (``--jobs``) inherit this choice.

TensorFlow is imported with Python's garbage collector paused: the import
creates about a million objects, and the collector, started by their
count, walked them again and again meanwhile. The recipes' commands then
spare the collector those objects for the rest of the run and at exit
(``spare_the_collector``). Measured on 2 cores with the CNN recipe's
command (4 epochs): its collections took 1.3 s of CPU before, 0.05 s now.
"""

import atexit
import contextlib
import gc
import os
import sys
import tempfile


def _import_tensorflow_quietly():
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
def _collector_paused():
    """Python's garbage collector off for the block (it ends as it was), and
    the objects made in it put straight into the oldest generation: a freeze
    takes them out of the collector's reach, the unfreeze puts them back
    into that generation, where the next full collection sees them. Without
    that the next two collections walked them all (0.6 s after TensorFlow's
    import). Skipped if the process has frozen objects of its own, which the
    unfreeze would release too."""
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


# Set by this package (and inherited by the processes `python -m recipes`
# starts for its jobs, which must import TensorFlow quietly too).
_QUIET = "RECIPES_QUIET_TENSORFLOW"

if "--verbose" not in sys.argv[1:] and (
    "TF_CPP_MIN_LOG_LEVEL" not in os.environ or os.environ.get(_QUIET) == "1"
):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ[_QUIET] = "1"
    if "tensorflow" not in sys.modules:
        with _collector_paused():
            _import_tensorflow_quietly()


def spare_the_collector():
    """For a command's process, once its modules are imported: every object
    alive now (TensorFlow's, Keras' and the other modules' objects, most of
    the process' objects) is frozen out of the garbage collector's reach,
    so that the collections during the run walk only what the run creates;
    and the process ends without Python's last full collection: at exit,
    after the exit handlers registered later than this call (they run
    first), every object still alive is frozen too and its memory left to
    the OS. Measured on 2 cores: a recipe process' exit took 1.7 s with the
    last collection, 0.2 s without.

    The price: objects in reference cycles, which include the globals of
    most modules, are not finalized at exit, and a cycle among the frozen
    objects is never collected. Call it only in a process that is run as a
    command, where everything that must reach a file is closed explicitly,
    as the recipes' commands do (``with`` blocks, Keras' callbacks close
    their writers at the end of ``fit``; logging flushes in its own exit
    handler); it is never done on ``import recipes``.
    """
    gc.freeze()
    atexit.register(gc.freeze)
