"""The API pages typeset each object's formula from its docstring.

``docs/_ext/docstrings.py`` turns the formula block of a docstring (indented
under the sentence that introduces it) into ``.. math::``, in the LaTeX that
``docs/_ext/formulas.py`` spells from the Unicode a ``help()`` reader sees.
Neither needs Sphinx, so the suite checks them without the docs extra.
"""

import inspect
import pathlib
import re
import sys

import pytest

import custom_layers
from custom_layers import activations, losses

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "docs" / "_ext"))
import docstrings
import formulas

# Public objects that hold no formula of the notes: a look-up and the
# model converters.
NO_FORMULA = {"get", "to_custom", "to_builtin"}


def _public_objects():
    names = {}
    for module in (custom_layers, activations, losses):
        for name in module.__all__:
            names.setdefault(name, getattr(module, name))
    return {n: o for n, o in sorted(names.items()) if n not in NO_FORMULA and callable(o)}


def _math(obj):
    lines = docstrings.convert(inspect.getdoc(obj).splitlines())
    return [line.split(".. math::", 1)[1].strip() for line in lines if ".. math::" in line]


@pytest.mark.parametrize("name", list(_public_objects()))
def test_every_public_object_shows_its_formula_as_math(name):
    typeset = _math(_public_objects()[name])
    assert typeset, f"{name}'s docstring has no formula block for the API page"
    for latex in typeset:
        symbols = re.sub(r"\\text\{[^}]*\}", "", latex)  # a label's words stay as written
        assert not any(ord(c) > 127 and c not in formulas._GREEK for c in symbols), latex


@pytest.mark.parametrize(
    "written, latex",
    [
        ("σ(z) = 1 / (1 + e^-z)", "σ(z) = 1 / (1 + e^{-z})"),
        ("a_j = e^z_j / Σ_k e^z_k", r"a_{j} = e^{z_{j}} / \sum_{k} e^{z_{k}}"),
        ("m̂_t = m_t / (1 − β₁ᵗ)", r"\hat{m}_{t} = m_{t} / (1 - β_{1}^{t})"),
        ("ḡ_t = ρ·ḡ_{t−1}", r"\bar{g}_{t} = ρ \cdot \bar{g}_{t-1}"),
        ("s_t = η·g_t / √(v_t + ε)", r"s_{t} = η \cdot g_{t} / \sqrt{v_{t} + ε}"),
        ("√v̂_t + ε", r"\sqrt{\hat{v}_{t}} + ε"),
        ("tanh'(z) = 1 − tanh(z)²", r"\operatorname{tanh}'(z) = 1 - \operatorname{tanh}(z)^{2}"),
        ("g(z) = z if z > 0 else α·z", r"g(z) = z \;\text{if}\; z > 0 \;\text{else}\; α \cdot z"),
        ("1{y⁽ⁱ⁾ = j}", r"1\{y^{(i)} = j\}"),
        ("Input[i + m]·Kernel[m]", r"\mathrm{Input}[i + m] \cdot \mathrm{Kernel}[m]"),
        ("e^-2|z|", "e^{-2|z|}"),
        ("g(z) = z,  g'(z) = 1", r"g(z) = z,\quad g'(z) = 1"),
        (
            "w_t = w_{t−1} − α·g_t        (momentum=0)",
            r"w_{t} = w_{t-1} - α \cdot g_{t}\qquad\text{(momentum=0)}",
        ),
    ],
)
def test_a_docstring_formula_in_latex(written, latex):
    assert formulas.to_latex(written) == latex


def test_a_condition_on_its_own_line_labels_the_formula_above():
    block = [
        "Keras' form:",
        "",
        "    θ_t = θ_{t−1} − η·m_t",
        '                         (epsilon_placement="keras")',
        "",
        "after it.",
    ]
    assert docstrings.convert(block)[2:4] == [
        r'    .. math:: θ_{t} = θ_{t-1} - η \cdot m_{t}\qquad\text{(epsilon_placement="keras")}',
        "",
    ]


@pytest.mark.parametrize("written", ["x ∈ S", "a → b", "x_(", "√"])
def test_a_formula_the_site_cannot_draw_is_refused(written):
    with pytest.raises(ValueError, match="formula"):
        formulas.to_latex(written)
