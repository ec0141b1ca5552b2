"""The docstrings of ``custom_layers`` as the site shows them.

The docstrings are written to be read in ``help()`` and in an editor, as
Keras' own are: Markdown-style tables, ``|z|`` for an absolute value, and
formulas indented under the sentence that introduces them. Before autodoc
hands them to reStructuredText, each table becomes a ``list-table``, a
literal ``|`` is escaped, and an indented block after a plain sentence
becomes a literal block, so that the formulas keep their layout.
"""

import re

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_PIPE = re.compile(r"(?<!\\)\|")


def _cells(line):
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [cell.strip() for cell in line.split("|")]


def _table(rows, indent):
    header, body = _cells(rows[0]), [_cells(row) for row in rows[2:]]
    out = [f"{indent}.. list-table::", f"{indent}   :header-rows: 1", ""]
    for row in [header, *body]:
        for i, cell in enumerate(row):
            out.append(f"{indent}   {'* -' if i == 0 else '  -'} {_inline(cell) or ' '}")
    out.append("")
    return out


def _inline(text):
    """Markdown code spans as literals, other pipes as plain characters."""
    parts = re.split(r"(``[^`]+``|`[^`]+`)", text)
    for i, part in enumerate(parts):
        if part.startswith("``"):
            continue
        if part.startswith("`"):
            parts[i] = f"``{part[1:-1]}``"
        else:
            parts[i] = _PIPE.sub(r"\\|", part)
    return "".join(parts)


_SECTION = re.compile(
    r"^\s*(Args|Arguments|Returns|Raises|Attributes|Input shape|Output shape|Yields|"
    r"Example|Examples|Note|Notes|Call arguments)\s*:\s*$"
)


def _indent(line):
    return len(line) - len(line.lstrip())


def convert(lines):
    """A docstring's lines (dedented, as autodoc gives them) for napoleon."""
    out, i, section = [], 0, False
    while i < len(lines):
        line = lines[i]
        if _SECTION.match(line):
            section = True
        elif line.strip() and _indent(line) == 0:
            section = False
        if (
            line.lstrip().startswith("|")
            and i + 1 < len(lines)
            and _TABLE_RULE.match(lines[i + 1])
        ):
            end = i + 2
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            if out and out[-1].strip():
                out.append("")
            out.extend(_table(lines[i:end], line[: _indent(line)]))
            i = end
            continue
        if _starts_formula(out, line, section):
            last = len(out) - 2  # the paragraph's last line, before the blank one
            text = out[last].rstrip()
            out[last] = text + (":" if text.endswith(":") else " ::")
            block = _indent(line)
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) >= block):
                out.append(lines[i])
                i += 1
            if out[-1].strip():
                out.append("")
            continue
        out.append(line if line.lstrip().startswith(">>>") else _inline(line))
        i += 1
    return out


def _starts_formula(out, line, section):
    """An indented block after a blank line that ends a plain paragraph:
    formulas laid out by hand, kept as a literal block."""
    if section or not line.strip() or len(out) < 2 or out[-1].strip():
        return False
    paragraph = out[-2]
    return (
        paragraph.strip() != ""
        and _indent(line) > _indent(paragraph)
        and not paragraph.rstrip().endswith("::")
        and not paragraph.lstrip().startswith(("- ", "* ", ".. ", ">>>", "..."))
        and not _SECTION.match(paragraph)
        and not line.lstrip().startswith((">>>", "- ", "* "))
    )


def _process(app, what, name, obj, options, lines):
    lines[:] = convert(list(lines))


def setup(app):
    # before napoleon (priority 500) turns the Google sections into fields
    app.connect("autodoc-process-docstring", _process, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
