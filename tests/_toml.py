"""A tiny TOML writer for tests: turns a hall dict back into a file, so bad halls go through the loader.

Only what hall files use: tables, nested tables, arrays of tables, strings, ints, floats, bools and
arrays of those. Not for production use.
"""

from __future__ import annotations

import json
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table(lines: list[str], path: str, table: dict) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_table_array(v)}
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        full = f"{path}.{_key(key)}" if path else _key(key)
        if isinstance(value, dict):
            lines.append("")
            lines.append(f"[{full}]")
            _table(lines, full, value)
        elif _is_table_array(value):
            for item in value:
                lines.append("")
                lines.append(f"[[{full}]]")
                _table(lines, full, item)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def dumps(doc: dict) -> str:
    lines: list[str] = []
    _table(lines, "", doc)
    return "\n".join(lines) + "\n"
