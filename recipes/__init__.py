"""Runnable recipes: one per task type, custom_layers vs Keras built-ins.

Importing the package keeps TensorFlow's C++ log lines (CUDA probes, CPU
feature notes, op-attribute warnings) off the console, unless the command
line asks for ``--verbose`` or ``TF_CPP_MIN_LOG_LEVEL`` is already set: it
sets ``TF_CPP_MIN_LOG_LEVEL=3`` and imports TensorFlow with the process'
stderr pointed at a temporary file, because TensorFlow 2.21 prints its
import-time lines before it reads that variable. If the import fails, what
it printed is shown. Python errors are never hidden. Processes started by
``python -m recipes`` (``--jobs``) inherit this choice.

The recipes' commands end without Python's last full garbage collection:
``exit_without_final_collection``.
"""

import atexit
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


# Set by this package (and inherited by the processes `python -m recipes`
# starts for its jobs, which must import TensorFlow quietly too).
_QUIET = "RECIPES_QUIET_TENSORFLOW"

if "--verbose" not in sys.argv[1:] and (
    "TF_CPP_MIN_LOG_LEVEL" not in os.environ or os.environ.get(_QUIET) == "1"
):
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ[_QUIET] = "1"
    if "tensorflow" not in sys.modules:
        _import_tensorflow_quietly()


def exit_without_final_collection():
    """Let this process end without Python's last full garbage collection:
    at exit, after the exit handlers registered later than this call (they
    run first), every object still alive is frozen out of the collector's
    reach and its memory left to the OS. With TensorFlow and Keras loaded
    that collection walks hundreds of thousands of objects: measured on 2
    cores, a recipe process' exit took 1.7 s with it and 0.2 s without.

    The price: objects in reference cycles, which include the globals of
    most modules, are not finalized at exit. Call it only where everything
    that must reach a file is closed explicitly, as the recipes' commands
    do (``with`` blocks, Keras' callbacks close their writers at the end of
    ``fit``; logging flushes in its own exit handler); it is never done on
    ``import recipes``.
    """
    atexit.register(gc.freeze)
