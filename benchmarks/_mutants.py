"""How ``benchmarks.mutation`` finds its mutants: every small change of the
kinds it makes, in the functions in scope of one module's source.

A mutant is bytes [start, end) of the source replaced by a text, found on
the module's syntax tree: a ``get_config`` (or ``_options``) entry dropped,
an argument passed on or stored replaced by its parameter's default (or
``None``), a comparison negated or its boundary moved, a ``raise`` (or a
``_validation._fail`` call) deleted, a constant that sets an argument or a
bound changed.
"""

import ast
import collections
import dataclasses

_NEGATED = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


_BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One change: bytes [start, end) of ``module``'s source become ``text``."""

    module: str
    qualname: str
    line: int
    operator: str
    detail: str
    start: int
    end: int
    text: str
    ordinal: int = 1

    @property
    def id(self):
        """Stable across edits elsewhere in the file (no line number)."""
        suffix = f" #{self.ordinal}" if self.ordinal > 1 else ""
        return f"{self.module}::{self.qualname}::{self.detail}{suffix}"

    def apply(self, source):
        return source[: self.start] + self.text.encode() + source[self.end :]


class _Finder:
    """The mutants of one module's functions in scope."""

    def __init__(self, module, source, scope):
        self.module, self.source, self.scope = module, source, scope
        starts, offset = [], 0
        for line in source.splitlines(keepends=True):
            starts.append(offset)
            offset += len(line)
        self._line_starts = starts
        self.mutants = []

    def _offset(self, line, col):  # ast's columns count UTF-8 bytes
        return self._line_starts[line - 1] + col

    def _text(self, node):
        start = self._offset(node.lineno, node.col_offset)
        return self.source[start : self._offset(node.end_lineno, node.end_col_offset)].decode()

    def _add(self, qualname, node, operator, detail, text):
        start = self._offset(node.lineno, node.col_offset)
        end = self._offset(node.end_lineno, node.end_col_offset)
        self.mutants.append(
            Mutant(self.module, qualname, node.lineno, operator, detail, start, end, text)
        )

    def find(self, tree):
        self._visit(tree.body, ())
        counts = collections.Counter()
        numbered = []
        for mutant in self.mutants:
            counts[mutant.id] += 1
            numbered.append(dataclasses.replace(mutant, ordinal=counts[mutant.id]))
        return numbered

    def _visit(self, body, prefix):
        for node in body:
            if isinstance(node, ast.ClassDef):
                self._visit(node.body, (*prefix, node.name))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = ".".join((*prefix, node.name))
                if self.scope is None or qualname in self.scope:
                    self._function(qualname, node)

    def _function(self, qualname, function):
        arguments = function.args
        positional = arguments.posonlyargs + arguments.args
        defaults = dict(
            zip(
                [a.arg for a in positional[len(positional) - len(arguments.defaults) :]],
                arguments.defaults,
                strict=True,
            )
        )
        defaults.update(
            (a.arg, d)
            for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
            if d is not None
        )
        parameters = {a.arg for a in positional + arguments.kwonlyargs}
        constants = _constant_sites(function)
        for node in ast.walk(function):
            if isinstance(node, ast.Dict) and function.name in ("get_config", "_options"):
                self._dict_entries(qualname, node)
            elif isinstance(node, ast.Call):
                self._passed_arguments(qualname, node, parameters, defaults)
            elif isinstance(node, ast.Assign) and function.name == "__init__":
                self._stored_arguments(qualname, node, parameters, defaults)
            elif isinstance(node, ast.Compare):
                self._comparison(qualname, node)
            elif isinstance(node, ast.Raise) or _is_fail_call(node):
                self._add(qualname, node, "raise", f"delete {self._first_line(node)}", "pass")
            elif isinstance(node, ast.Constant) and id(node) in constants:
                self._constant(qualname, node, constants[id(node)])

    def _first_line(self, node):
        return self._text(node).splitlines()[0].strip()

    def _dict_entries(self, qualname, node):
        for index, key in enumerate(node.keys):
            keys = node.keys[:index] + node.keys[index + 1 :]
            values = node.values[:index] + node.values[index + 1 :]
            name = (
                repr(key.value)
                if isinstance(key, ast.Constant)
                else "**" + self._text(node.values[index])
            )
            text = ast.unparse(ast.Dict(keys=keys, values=values))
            self._add(qualname, node, "config", f"drop {name}", text)

    def _default_of(self, value, parameters, defaults):
        """The default (source text) of the parameter that ``value`` passes
        on, ``None`` if it has none; no mutant (None) if it passes none."""
        names = [n.id for n in ast.walk(value) if isinstance(n, ast.Name) and n.id in parameters]
        if not names or names[0] in ("self", "cls"):
            return None
        default = defaults.get(names[0])
        return "None" if default is None else ast.unparse(default)

    def _passed_arguments(self, qualname, call, parameters, defaults):
        for keyword in call.keywords:
            if keyword.arg is None or isinstance(keyword.value, ast.Constant):
                continue
            text = self._default_of(keyword.value, parameters, defaults)
            if text is None:
                text = "None"
            if text != self._text(keyword.value):
                detail = f"{keyword.arg}={self._text(keyword.value)} -> {text}"
                self._add(qualname, keyword.value, "argument", detail, text)

    def _stored_arguments(self, qualname, assign, parameters, defaults):
        target = assign.targets[0]
        if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)):
            return
        if target.value.id != "self":
            return
        text = self._default_of(assign.value, parameters, defaults)
        if text is not None and text != self._text(assign.value):
            detail = f"self.{target.attr} = {text}"
            self._add(qualname, assign.value, "argument", detail, text)

    def _comparison(self, qualname, node):
        for index, op in enumerate(node.ops):
            for operator, table in (("negate", _NEGATED), ("boundary", _BOUNDARY)):
                if type(op) not in table:
                    continue
                ops = list(node.ops)
                ops[index] = table[type(op)]()
                text = ast.unparse(ast.Compare(node.left, ops, node.comparators))
                self._add(qualname, node, operator, f"{self._text(node)} -> {text}", text)

    def _constant(self, qualname, node, where):
        value = node.value
        if isinstance(value, bool):
            text = repr(not value)
        elif isinstance(value, (int, float)):
            text = repr(value + 1)
        else:
            return
        self._add(qualname, node, "constant", f"{where}{self._text(node)} -> {text}", text)


def _constant_sites(function):
    """The constants that set an argument or a bound, by node id, with what
    they set: a parameter's default, an operand of a comparison, a keyword
    argument's value, an argument of a ``_validation`` check. (Not the
    ``1`` of ``name.split("_", 1)`` and the like, whose mutants mostly
    compute the same.)"""
    arguments = function.args
    positional = arguments.posonlyargs + arguments.args
    sites = {}
    with_default = positional[len(positional) - len(arguments.defaults) :]
    for parameter, default in zip(with_default, arguments.defaults, strict=True):
        sites[id(default)] = f"default {parameter.arg}: "
    for parameter, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        if default is not None:
            sites[id(default)] = f"default {parameter.arg}: "
    for node in ast.walk(function):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                sites[id(operand)] = f"in `{ast.unparse(node)}`: "
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            for keyword in node.keywords:
                sites[id(keyword.value)] = f"{name}({keyword.arg}=...): "
            if name.startswith("_validation."):
                for index, argument in enumerate(node.args):
                    sites[id(argument)] = f"{name}(argument {index}): "
    for node in ast.walk(function):  # a raise's message is no bound
        if isinstance(node, ast.Raise):
            for inner in ast.walk(node):
                sites.pop(id(inner), None)
    return sites


def _is_fail_call(node):
    """A statement calling ``_fail``: ``_validation``'s raise."""
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "_fail"
    )


def find(module, source, scope):
    """The mutants of ``module`` (its path in the package, for their ids)
    from its ``source`` bytes, in the functions named in ``scope`` (their
    qualified names; ``None``: every function)."""
    return _Finder(module, source, scope).find(ast.parse(source))
