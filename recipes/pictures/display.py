"""Keeping a figure: a PNG file, and inline in a Jupyter kernel."""

import io
import pathlib
import sys


def in_kernel():
    """Whether this runs in a Jupyter kernel (IPython is not imported to ask)."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if get_ipython else None
    return shell is not None and hasattr(shell, "kernel")


def show(fig, path=None, dpi=100):
    """Write a figure as PNG and, in a Jupyter kernel, display it inline.

    Args:
        fig: a ``matplotlib.figure.Figure`` (from this module or pyplot).
        path: where to write it (folders are created); nothing is written
            when ``None``. The suffix picks the format, PNG by default.
        dpi: dots per inch, for the file and the inline picture.

    Returns:
        The ``pathlib.Path`` written, or ``None``.

    A figure without a layout engine (pyplot's default) gets a tight layout
    first. A figure pyplot manages is closed at the end, so that a script
    does not keep it and a notebook does not show it twice. This never calls
    ``plt.show()``, which blocks a script or warns under Agg.
    """
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    if path is not None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    if in_kernel():
        from IPython.display import Image, display

        # PNG bytes, not the figure: a figure made without pyplot has no
        # inline formatter until pyplot has loaded the inline backend.
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        display(Image(data=buffer.getvalue(), format="png"))
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    return path
