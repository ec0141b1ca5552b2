"""Math rendered at build time as MathML, which browsers draw natively:
the built pages need no script and no font from a network to show it."""

from docutils import nodes
from latex2mathml.converter import convert


def _inline(translator, node):
    translator.body.append(convert(node.astext()))
    raise nodes.SkipNode


def _block(translator, node):
    latex = node.astext()
    if node.get("number"):
        label = f'<span class="eqno">({node["number"]})</span>'
    else:
        label = ""
    translator.body.append(
        f'<div class="math-block">{convert(latex, display="block")}{label}</div>\n'
    )
    raise nodes.SkipNode


def setup(app):
    app.add_html_math_renderer("mathml", (_inline, None), (_block, None))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
