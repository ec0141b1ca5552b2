"""Runnable recipes: one per task type, custom_layers vs Keras built-ins.

Importing the package keeps TensorFlow's C++ log lines (CUDA probes, CPU
feature notes, op-attribute warnings) off the console, unless the command
line asks for ``--verbose`` or ``TF_CPP_MIN_LOG_LEVEL`` is already set: it
sets ``TF_CPP_MIN_LOG_LEVEL=3`` and imports TensorFlow with the process'
stderr pointed at a temporary file, because TensorFlow 2.21 prints its
import-time lines before it reads that variable. If the import fails, what
it printed is shown. Python errors are never hidden. Processes started by
``python -m recipes`` (``--jobs``) inherit this choice.
"""

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
