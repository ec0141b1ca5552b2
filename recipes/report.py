"""Where a measured table goes (the benchmarks', ``python -m recipes --table``):
a Markdown file that the docs site includes (``docs/measured/<name>-<backend>.md``),
headed by the date, the machine and the versions it was measured with. A
figure on the site is the one the script wrote; nobody types it again."""

import datetime
import os
import pathlib
import platform
import shlex
import sys

import keras

MEASURED = pathlib.Path(__file__).resolve().parent.parent / "docs" / "measured"


def cores():
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine():
    """The CPU model and core count, in words."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {cores()} cores"


def versions():
    """The frameworks' versions that the figures depend on."""
    import tensorflow as tf

    parts = [f"Keras {keras.__version__}", f"TensorFlow {tf.__version__}"]
    if keras.backend.backend() == "jax":
        import jax

        parts.append(f"JAX {jax.__version__}")
    return ", ".join(parts)


def add_table_flag(parser, name):
    """A benchmark's ``--table PATH``: where it writes its table, by default
    ``docs/measured/<name>-<backend>.md``."""
    parser.add_argument(
        "--table",
        default=MEASURED / f"{name}-{keras.backend.backend()}.md",
        help=f"the Markdown file the docs include (default: docs/measured/{name}-<backend>.md)",
    )


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render(command, sections):
    """``sections`` (a list of (caption, header, rows)) as Markdown, headed by
    how and where they were measured."""
    today = datetime.date.today().isoformat()
    parts = [
        f"*Measured on {today} by `{command}` with KERAS_BACKEND={keras.backend.backend()}, "
        f"on {machine()}; {versions()}.*"
    ]
    for caption, header, rows in sections:
        parts += [f"**{caption}**" if caption else "", markdown_table(header, rows)]
    return "\n\n".join(part for part in parts if part) + "\n"


def command(module, argv=None):
    """The command line that ran ``python -m module``, with the flags it was
    given (``argv``, or this process' own when None), for a table's heading."""
    argv = sys.argv[1:] if argv is None else argv
    return " ".join([f"python -m {module}", *map(shlex.quote, argv)])


def write(path, command, sections):
    """Write ``render(command, sections)`` to ``path``; returns the path."""
    return write_text(path, render(command, sections))


def write_text(path, text):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def splice(path, name, text):
    """Put ``text`` between the lines ``<!-- measured:name -->`` and
    ``<!-- /measured:name -->`` of the file at ``path`` (a README), in place
    of what was there."""
    path = pathlib.Path(path)
    start, end = f"<!-- measured:{name} -->", f"<!-- /measured:{name} -->"
    document = path.read_text()
    if start not in document or end not in document:
        raise ValueError(f"{path} has no {start} ... {end} block to write the table into")
    head, rest = document.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text.strip()}\n{end}{tail}")
    return path
