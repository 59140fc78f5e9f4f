"""The known amplifiers of a Jinja2 template, found without running it: constructs whose
cost or output grows far beyond the template's own size. Refusing them when a recipient
is saved gives a clear reason early; what no static check can see is still bounded when
the template runs, in the host's template workers (a time budget and an output cap).

Refused: ``lipsum`` (``lipsum(n=20000)`` writes megabytes); ``range`` over more than
:data:`MAX_RANGE` numbers or with bounds that are not literal numbers; loops nested three
deep, or two deep where either loops over a ``range``; ``**`` (``9 ** 9 ** 9``); ``*`` with
a literal operand above :data:`MAX_FACTOR` (``"x" * 10**9``); width arguments above
:data:`MAX_FACTOR` to ``center``, ``indent``, ``wordwrap``, ``truncate`` and ``format``;
macros and ``call`` blocks (a macro calling itself twice doubles its cost at each level).
"""

from __future__ import annotations

from typing import Final

import jinja2
from jinja2 import nodes

MAX_RANGE: Final = 1000
MAX_FACTOR: Final = 1000
MAX_LOOP_DEPTH: Final = 2
_WIDTH_FILTERS: Final = frozenset({"center", "indent", "wordwrap", "truncate", "format"})
_PARSER: Final = jinja2.Environment()


def template_amplifier(source: str) -> str | None:
    """Why ``source`` is refused as an amplifier, or None; a template that does not parse
    is left to its own syntax check (None)."""
    try:
        tree = _PARSER.parse(source)
    except jinja2.TemplateSyntaxError:
        return None
    return _amplifier(tree, loops=0, ranged=False)


def _literal_int(node: nodes.Node) -> int | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, int | float):
        return int(node.value)
    if isinstance(node, nodes.Neg):
        inner = _literal_int(node.node)
        return None if inner is None else -inner
    return None


def _range_problem(call: nodes.Call) -> str | None:
    bounds = [_literal_int(arg) for arg in call.args]
    if call.kwargs or call.dyn_args or call.dyn_kwargs or None in bounds or not bounds:
        return "range() takes only literal numbers here"
    try:
        size = len(range(*[b for b in bounds if b is not None]))
    except (TypeError, ValueError):
        return "range() takes only literal numbers here"
    if size > MAX_RANGE:
        return f"range() over {size} numbers; at most {MAX_RANGE}"
    return None


def _is_range(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "range"
    )


def _amplifier(node: nodes.Node, loops: int, ranged: bool) -> str | None:
    if isinstance(node, nodes.Macro | nodes.CallBlock):
        return "macros and call blocks are not taken in these templates"
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
        if node.node.name == "lipsum":
            return "lipsum() is not taken in these templates"
        if node.node.name == "range" and (problem := _range_problem(node)) is not None:
            return problem
    if isinstance(node, nodes.Pow):
        return "** is not taken in these templates"
    if isinstance(node, nodes.Mul):
        for operand in (node.left, node.right):
            factor = _literal_int(operand)
            if factor is not None and abs(factor) > MAX_FACTOR:
                return f"* by {factor}; at most {MAX_FACTOR}"
    if isinstance(node, nodes.Filter) and node.name in _WIDTH_FILTERS:
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            width = _literal_int(arg)
            if width is not None and abs(width) > MAX_FACTOR:
                return f"{node.name} with {width}; at most {MAX_FACTOR}"
    if isinstance(node, nodes.For):
        loops += 1
        ranged = ranged or _is_range(node.iter)
        if loops > MAX_LOOP_DEPTH or (loops > 1 and ranged):
            return "loops nested this deep are not taken in these templates"
    for child in node.iter_child_nodes():
        problem = _amplifier(child, loops, ranged)
        if problem is not None:
            return problem
    return None
