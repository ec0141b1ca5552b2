"""The kernel that runs the tutorials during the docs build: an IPython
kernel whose TensorFlow is imported before the notebook starts, with its C++
start-up lines (CUDA probes, CPU notes) kept off the build's console.

The lines go to the kernel's file descriptor 2, which it inherits from
``sphinx-build``, so neither the pages (myst-nb removes the kernel's stderr
outputs) nor the notebook's code can hide them; ``recipes.process`` imports
TensorFlow with that descriptor pointed elsewhere (unless the builder set
``TF_CPP_MIN_LOG_LEVEL`` to see the lines), and shows what it held if the
import fails. The lines TensorFlow logs later (a failed CUDA probe at
the first op, notes on TFDS' dataset graphs) follow ``TF_CPP_MIN_LOG_LEVEL``,
which ``docs/conf.py`` sets to 3 unless the builder set it. The notebooks
themselves run as a user's would.
"""

import os
import sys

from ipykernel import kernelapp

from recipes import process

# 3 unless the builder chose to see TensorFlow's lines (see docs/conf.py)
process.import_tensorflow(quiet=os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "3")
# Off: ipykernel's note that a local kernel talks over TCP without encryption.
kernelapp.launch_new_instance(argv=[*sys.argv[1:], "--IPKernelApp.log_level=ERROR"])
