"""Text that people read lives in the text table (tongban/texts/*.toml), in Chinese and English.

A string literal with Chinese characters in tongban/**/*.py (docstrings and comments aside) is either
listed below with the reason it stays in code, or a failure: put the words in a .toml file and use
the key. And every key the code or a template names must be in the table, in both languages.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from string import Formatter

import pytest

from tongban.texts import LANGS, table

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tongban"
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

#: Files whose Chinese string literals all stay, and why.
ALLOWED_FILES: dict[str, str] = {
    "tongban/cli.py": "demo data: the names `tongban demo` gives its accounts and terminals, like the demo hall",
    "tongban/printers/cli.py": (
        "the printer test page: its Chinese and full-width punctuation test the printer's glyphs and encoding;"
        " and --reprint's help, naming the 补打 marking for technicians"
    ),
    "tongban/printers/slip.py": "demo_slip(): a sample ticket standing for a hall's data (names, reminders)",
    "tongban/sim/scenarios.py": "simulated halls' names and lines: scenario data, as a hall file gives them",
    "tongban/voice.py": (
        "what the voice clips say: hanzi paired with the pinyin the synthesizer reads, built into audio files"
        " rather than shown"
    ),
}

#: Single literals that stay: (file, the literal) -> why.
ALLOWED: dict[tuple[str, str], str] = {
    (
        "tongban/queue/cases.py",
        r"[\d\s()+\-转]{5,40}",
    ): "a pattern: 转 is how an extension is written in a phone number",
    (
        "tongban/web/api/openapi.py",
        "好差评: the citizen rates a finished service on the window's rating pad (pad terminals only; "
        "one rating per service)",
    ): "API documentation for developers, naming the national scale by its Chinese name",
}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _python_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if ".venv" not in p.parts)


def _cjk_literals() -> list[tuple[str, int, str]]:
    out = []
    for path in _python_files():
        source = path.read_text()
        tree = ast.parse(source, str(path))
        skip = _docstrings(tree)
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
                and CJK.search(node.value)
                # as written: "\u4e00" is a code point, not words
                and CJK.search(ast.get_source_segment(source, node) or node.value)
            ):
                out.append((rel, node.lineno, node.value))
    return sorted(out)


def test_chinese_text_in_code_is_only_what_the_allowlist_names():
    stray = [
        f"{rel}:{line}: {value!r}"
        for rel, line, value in _cjk_literals()
        if rel not in ALLOWED_FILES and (rel, value) not in ALLOWED
    ]
    assert not stray, "words people read belong in tongban/texts/*.toml:\n" + "\n".join(stray)


def test_the_allowlist_names_nothing_that_is_gone():
    literals = _cjk_literals()
    files = {rel for rel, _line, _value in literals}
    pairs = {(rel, value) for rel, _line, value in literals}
    stale = [f for f in ALLOWED_FILES if f not in files] + [f"{f}: {v!r}" for f, v in ALLOWED if (f, v) not in pairs]
    assert not stale, "no longer in the code; take them off the allowlist:\n" + "\n".join(stale)


# ---------- every key named in code or templates is in the table ----------

#: Calls whose first argument is a key: text(key, ...), both(key), Msg(key), and the domain's refusals
#: (QueueError and its subclasses take the key first).
KEY_FIRST = {"text", "both", "Msg"}
#: Calls whose second argument is a key: _Problems.add(field, key), AuthError(code, key), refusal(code, key).
KEY_SECOND = {"add", "AuthError", "refusal"}


def _queue_error_names() -> set[str]:
    from tongban.queue import cases, errors, ratelimit  # noqa: F401 - their classes must be loaded

    names, todo = set(), [errors.QueueError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def _keys_in_code() -> list[tuple[str, int, str]]:
    first = KEY_FIRST | _queue_error_names()
    found = []
    for path in _python_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "tongban/texts/__init__.py":  # the loader itself: Msg.text("zh") is a language
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
            if name in first and args and args[0]:
                found.append((rel, node.lineno, args[0]))
            elif name in ("AuthError", "refusal") and args and args[0]:
                found.append((rel, node.lineno, args[1] if len(args) > 1 and args[1] else f"err_{args[0]}"))
            elif name == "add" and len(args) > 1 and args[1] and rel == "tongban/queue/cases.py":
                found.append((rel, node.lineno, args[1]))
    return found


TEMPLATE_KEY = re.compile(r"""\b(?:t|bi|t_zh|t_en)\(\s*['"]([a-z0-9_]+)['"]\s*[,)]""")


def _keys_in_templates() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.html")):
        rel = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found.extend((rel, number, key) for key in TEMPLATE_KEY.findall(line))
    return found


@pytest.mark.parametrize("where", ["code", "templates"])
def test_every_key_named_is_in_the_table(where):
    keys = _keys_in_code() if where == "code" else _keys_in_templates()
    assert keys, "the scan found no keys at all: is it still looking in the right place?"
    missing = [f"{rel}:{line}: {key}" for rel, line, key in keys if key not in table()]
    assert not missing, "keys not in tongban/texts/*.toml:\n" + "\n".join(missing)


def test_every_entry_is_a_valid_format_string_in_both_languages():
    for key, entry in table().items():
        for lang in LANGS:
            assert entry[lang].strip(), (key, lang)
            list(Formatter().parse(entry[lang]))  # raises on a stray { or }
