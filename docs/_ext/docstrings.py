"""The docstrings of ``custom_layers`` as the site shows them.

The docstrings are written to be read in ``help()`` and in an editor, as
Keras' own are: Markdown-style tables, ``|z|`` for an absolute value, and
formulas indented under the sentence that introduces them. Before autodoc
hands them to reStructuredText, each table becomes a ``list-table``, a
literal ``|`` is escaped, and an indented block after a plain sentence (the
formulas, one per line) becomes math, one ``.. math::`` per formula, in the
LaTeX that ``formulas.to_latex`` spells.
"""

import inspect
import re

import formulas

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
        if line.lstrip().startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1]):
            end = i + 2
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            if out and out[-1].strip():
                out.append("")
            out.extend(_table(lines[i:end], line[: _indent(line)]))
            i = end
            continue
        if _starts_formula(out, line, section):
            block = _indent(line)
            end = i
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) >= block):
                end += 1
            out.extend(_math(lines[i:end], line[:block]))
            i = end
            continue
        out.append(line if line.lstrip().startswith(">>>") else _inline(line))
        i += 1
    return out


def _math(block, indent):
    """Formula lines as ``.. math::`` directives: a line indented deeper than
    the block, or a lone condition such as ``(momentum=0)``, continues the
    formula above it."""
    formulas_ = []
    for line in block:
        if not line.strip():
            continue
        if formulas_ and (_indent(line) > len(indent) or formulas.label_only(line)):
            joint = "  " if formulas.label_only(line) else " "
            formulas_[-1] += joint + line.strip()
        else:
            formulas_.append(line.strip())
    out = []
    for formula in formulas_:
        out += [f"{indent}.. math:: {formulas.to_latex(formula)}", ""]
    return out


def _starts_formula(out, line, section):
    """An indented block after a blank line that ends a plain paragraph:
    formulas laid out by hand, one per line."""
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


def _signature(app, what, name, obj, options, signature, return_annotation):
    """A layer's arguments, not ``(*args, **kwargs)``: ``keras.layers.Layer``
    defines ``__new__`` with that signature, which autodoc would show."""
    if what == "class" and signature == "(*args, **kwargs)" and "__init__" in vars(obj):
        init = inspect.signature(obj.__init__)
        parameters = list(init.parameters.values())[1:]  # without self
        return str(init.replace(parameters=parameters)), return_annotation
    return None


def setup(app):
    # before napoleon (priority 500) turns the Google sections into fields
    app.connect("autodoc-process-docstring", _process, priority=400)
    app.connect("autodoc-process-signature", _signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
