"""The docstrings' formulas, as written for ``help()``, in LaTeX for the site.

A docstring writes a formula the way the notes print it, in Unicode:
``σ(z) = 1 / (1 + e^(−z))``, ``m̂_t = m_t / (1 − β₁ᵗ)``,
``Σ_{m,n,c} Input[i + m, j + n]·Kernel[m, n]``. ``to_latex`` turns one such
line into LaTeX that the MathML renderer typesets: operators and scripts
become commands (``·`` → ``\\cdot``, ``√(…)`` → ``\\sqrt{…}``, ``e^-z`` →
``e^{-z}``, ``β₁`` → ``β_1``), words become upright text, and a condition
set off by two spaces at the end, ``(momentum=0)``, becomes a text label.

A character it has no rule for raises ``ValueError``, so a formula that the
site would draw wrongly fails the strict build instead.
"""

import re
import unicodedata

# Operators: an upright name for the function, not the product of its letters.
_FUNCTIONS = {"log", "exp", "max", "min", "sign", "tanh", "Softplus", "expm1", "mean"}
# Words of a formula read as prose: upright text with space around it.
_PROSE = {"if", "else", "otherwise", "for", "and", "where", "then"}
_SYMBOLS = {
    "−": "-",
    "·": r" \cdot ",
    "⊙": r" \odot ",
    "×": r" \times ",
    "≤": r" \le ",
    "≥": r" \ge ",
    "≠": r" \ne ",
    "∂": r"\partial ",
    "⌊": r"\lfloor ",
    "⌋": r"\rfloor ",
    "½": r"\tfrac{1}{2}",
    "∞": r"\infty ",
}
_SCRIPTS = {
    "⁽ⁱ⁾": "^{(i)}",
    "²": "^2",
    "³": "^3",
    "ᵗ": "^t",
    "₁": "_1",
    "₂": "_2",
    "ᵢ": "_i",
    "ⱼ": "_j",
}
_ACCENTS = {"\u0302": "hat", "\u0304": "bar", "\u0303": "tilde"}
_GREEK = "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΦΨΩ"
_ASCII = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-=/()[]{},.;:|<>!'_^ ")

_LABEL = re.compile(r"^(?P<formula>.*?\S)\s{2,}(?P<label>\([^()]*(\([^()]*\)[^()]*)*\))\s*$")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def label_only(line):
    """Whether ``line`` is a condition alone, ``(epsilon_placement="keras")``,
    that belongs to the formula on the line above it."""
    text = line.strip()
    return text.startswith("(") and text.endswith(")") and "=" in text and " = " not in text


def to_latex(line):
    """One formula line, as a docstring writes it, in LaTeX."""
    formula, label = line.strip(), ""
    found = _LABEL.match(formula)
    if found:
        formula, label = found["formula"], found["label"]
    elif label_only(formula):
        formula, label = "", formula
    parts = [f"{_expression(side.strip())}" for side in re.split(r",\s{2,}", formula) if side]
    latex = r",\quad ".join(parts)
    if label:
        latex += r"\qquad\text{" + label + "}"
    return latex


def _expression(text):
    text = _decompose(text)
    out, i = [], 0
    while i < len(text):
        i = _token(text, i, out)
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def _decompose(text):
    """Precomposed accents (ḡ) as letter + combining mark, scripts and
    symbols as their LaTeX spelling."""
    text = unicodedata.normalize("NFD", text)
    for mark, latex in {**_SCRIPTS, **_SYMBOLS}.items():
        text = text.replace(mark, latex)
    return text


def _token(text, i, out):
    """Append the LaTeX of the token at ``text[i]``; return where it ends."""
    char = text[i]
    if char == "Σ":
        out.append(r"\sum")
        return i + 1
    if char == "√":
        body, end = _atom(text, i + 1)
        out.append(r"\sqrt{" + _expression(body) + "}")
        return end
    if char == "^":
        body, end = _atom(text, i + 1, signed=True)
        out.append("^{" + _expression(body) + "}")
        return end
    if char == "_":
        body, end = _atom(text, i + 1)
        out.append("_{" + _expression(body) + "}")
        return end
    if char.isascii() and char.isalpha():
        word = _WORD.match(text, i).group()
        end = i + len(word)
        if end < len(text) and text[end] in _ACCENTS:
            if len(word) > 1:
                out.append(_word(word[:-1]))
            out.append(f"\\{_ACCENTS[text[end]]}{{{word[-1]}}}")
            return end + 1
        out.append(_word(word))
        return end
    if char in _GREEK:
        if i + 1 < len(text) and text[i + 1] in _ACCENTS:
            out.append(f"\\{_ACCENTS[text[i + 1]]}{{{char}}}")
            return i + 2
        out.append(char)
        return i + 1
    if char in "{}":  # a group of a script or root is taken with it: these are braces
        out.append("\\" + char)
        return i + 1
    if char in _ASCII or char == "\\":
        if char == "\\":  # a LaTeX command spelled by _SYMBOLS, kept whole
            command = re.match(r"\\[A-Za-z]+(\{[^}]*\}\{[^}]*\})?", text[i:]).group()
            out.append(command + " ")
            return i + len(command)
        out.append(char)
        return i + 1
    raise ValueError(
        f"No LaTeX for {char!r} (U+{ord(char):04X}) in the formula {text!r}: "
        "add a rule to docs/_ext/formulas.py or write it otherwise."
    )


def _word(word):
    if len(word) == 1 or word.isdigit():
        return word
    if word in _FUNCTIONS:
        return rf"\operatorname{{{word}}}"
    if word in _PROSE:
        return rf"\;\text{{{word}}}\;"
    return rf"\mathrm{{{word}}}"


def _atom(text, i, signed=False):
    """The operand of a script or root at ``text[i]``: a ``{…}`` or ``(…)``
    group (without its brackets), ``|…|``, or a name or number with its own
    subscript (``v̂_t``, ``z_j``, ``2|z|``); with ``signed``, a leading minus
    belongs to it (``e^-z``)."""
    start = i
    if signed and text.startswith("-", i):
        i += 1
    if i < len(text) and text[i] in "({":
        end = _closing(text, i)
        inner = text[i + 1 : end]
        return (text[start:i] + inner), end + 1
    while i < len(text) and (text[i].isalnum() or text[i] in _ACCENTS):
        i += 1
    if i < len(text) and text[i] == "|":
        i = text.index("|", i + 1) + 1
    if i < len(text) and text[i] == "_":
        if text.startswith("{", i + 1):
            i = _closing(text, i + 1) + 1
        else:
            i += 1
            while i < len(text) and text[i].isalnum():
                i += 1
    if i == start:
        raise ValueError(f"Nothing to raise, lower or root at {i} in the formula {text!r}.")
    return text[start:i], i


def _closing(text, i):
    pairs = {"(": ")", "{": "}"}
    depth = 0
    for j in range(i, len(text)):
        if text[j] == text[i]:
            depth += 1
        elif text[j] == pairs[text[i]]:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"Unbalanced {text[i]!r} in the formula {text!r}.")
