"""The recipes as notebooks for myst-nb: jupytext's percent format, with the
kernel and language they run in (a percent file names neither)."""

import jupytext


def read(text):
    notebook = jupytext.reads(text, fmt="py:percent")
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    return notebook
