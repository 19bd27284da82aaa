"""The web reads htmx's request headers only through htmx-flask (`request.htmx`, `request.htmx.boosted`).

Hand-written checks drifted apart: some took any HX-Request value as true, some only "true". A
string naming an HX-* request header in tongban/web is allowed only as the value of a `Vary`
response header (and in docstrings).
"""

from __future__ import annotations

import ast
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "tongban" / "web"
NAMES = ("hx-request", "hx-boosted", "http_hx_")


def _is_vary_value(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    """`something.headers["Vary"] = "HX-Request"`."""
    parent = parents.get(node)
    if not isinstance(parent, ast.Assign) or parent.value is not node:
        return False
    return all(
        isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant) and t.slice.value == "Vary"
        for t in parent.targets
    )


def hand_written_checks(source: str, filename: str) -> list[str]:
    tree = ast.parse(source, filename)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0)):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if not any(name in node.value.lower() for name in NAMES):
            continue
        if isinstance(parents.get(node), ast.Expr) or _is_vary_value(node, parents):
            continue  # a docstring, or the Vary header
        found.append(f"{filename}:{node.lineno}: {ast.get_source_segment(source, parents.get(node, node))}")
    return found


def test_the_check_finds_hand_written_reads():
    source = (
        'def view():\n    """Answers HX-Request with a fragment."""\n'
        '    if request.headers.get("HX-Request") == "true":\n        pass\n'
        '    response.headers["Vary"] = "HX-Request"\n'
    )
    [line] = hand_written_checks(source, "x.py")
    assert line.startswith("x.py:3: ")


def test_htmx_headers_are_read_through_htmx_flask():
    found = []
    for path in sorted(WEB.rglob("*.py")):
        found += hand_written_checks(path.read_text(encoding="utf-8"), str(path.relative_to(WEB.parents[1])))
    assert not found, "read HX-* headers with request.htmx / request.htmx.boosted instead:\n" + "\n".join(found)
