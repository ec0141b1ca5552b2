"""Sphinx configuration of the docs site (``sphinx-build -W docs docs/_build/html``)."""

import logging
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
sys.path.insert(0, str(ROOT))

project = "Keras notes, rebuilt"
author = "the keras-notes-recipes authors"
copyright = f"2026, {author}"
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "mathml",
    "docstrings",
]
# measured/<name>-<backend>.md are the scripts' tables, included by
# measured/index.md rather than pages of their own
exclude_patterns = [
    "_build",
    "_ext",
    "conf.py",
    "**/.ipynb_checkpoints",
    "measured/*-tensorflow.md",
    "measured/*-jax.md",
]

# Markdown pages and the recipes: each recipe file (a symbolic link to
# recipes/<name>.py, jupytext's percent format) is read as a notebook and
# run top to bottom in a Jupyter kernel at every build, with its default
# flags: a tutorial page shows the outputs of this build, never stale ones.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
nb_custom_formats = {".py": "recipe_notebooks.read"}
nb_execution_mode = os.environ.get("DOCS_EXECUTE", "force")
# Executed by the kernel in docs/_ext/kernels/recipes, which keeps
# TensorFlow's start-up lines off the console; the notebooks still name the
# standard python3 kernel, for readers who run them.
os.environ["JUPYTER_PATH"] = os.pathsep.join(
    filter(None, [str(ROOT / "docs" / "_ext"), os.environ.get("JUPYTER_PATH")])
)
nb_kernel_rgx_aliases = {"python3": "recipes"}
logging.getLogger("traitlets").setLevel(logging.WARNING)
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
# TensorFlow's C++ start-up lines (CUDA probes, CPU notes) go to the
# kernel's stderr; the pages show what the recipes print.
nb_output_stderr = "remove"
nb_merge_streams = True
# The kernels start as a user's would, not as a recipes command.
os.environ.pop("RECIPES_COMMAND", None)

# autodoc imports custom_layers, hence TensorFlow, whose C++ start-up lines
# (CUDA probes, CPU notes) would fill the build's console; imported here
# with them kept off it, and its later log lines (here and in the kernels)
# off too, unless the builder set TF_CPP_MIN_LOG_LEVEL to see them.
if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
    from recipes import process

    process.import_tensorflow(quiet=True)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # the import set it to 1

html_math_renderer = "mathml"
html_theme = "furo"
html_title = "Keras notes, rebuilt"
html_static_path = ["_static"]
html_css_files = ["site.css"]

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
nitpicky = False
