"""Problems in a hand-edited TOML file, collected so that one pass reports all of them.

A hall's IT person fixes a file faster from the whole list than from one error at a time, and every
part of the file (hall, printers, buses, holiday calendars) answers in the same shape:
``path.field: what is wrong (expected what would do)``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

Check = Callable[[Any], str | None]  # a message when the value will not do, else None


class Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def value(
        self,
        value: Any,
        path: str,
        kind: type | tuple = object,
        *,
        expect: str | None = None,
        check: Check | None = None,
    ) -> Any:
        """``value`` when it is a ``kind`` and ``check`` has nothing against it, else None."""
        # TOML booleans are ints in Python; a number must not accept true/false.
        bad_bool = isinstance(value, bool) and kind in (int, float, (int, float))
        if bad_bool or not isinstance(value, kind):
            self.problem(path, f"is {describe(value)} (expected {expect or kind_name(kind)})")
            return None
        message = check(value) if check else None
        if message:
            self.problem(path, message)
            return None
        return value

    def table(self, value: Any, path: str, *, expect: str = "a table") -> dict | None:
        return self.value(value, path, dict, expect=expect)

    def unknown(self, table: dict, path: str, known: Iterable[str]) -> None:
        # A typo must be an error: otherwise the key it meant silently keeps its default.
        names = sorted(known) if isinstance(known, (set, frozenset)) else list(known)
        for key in table:
            if key not in names:
                self.problem(_join(path, key), f"unknown key (expected one of {', '.join(names)})")

    def get(
        self,
        table: dict,
        path: str,
        key: str,
        kind: type | tuple = object,
        *,
        required: bool = True,
        default: Any = None,
        expect: str | None = None,
        check: Check | None = None,
    ) -> Any:
        """``table[key]`` checked as by ``value``; ``default`` when it is absent or will not do."""
        if key not in table:
            if required:
                self.problem(_join(path, key), f"is missing (expected {expect or kind_name(kind)})")
            return default
        value = self.value(table[key], _join(path, key), kind, expect=expect, check=check)
        return default if value is None else value

    def text(self, table: dict, path: str, key: str, *, required: bool = True, default: str = "") -> str:
        def non_empty(value: str) -> str | None:
            return "is empty (expected some text)" if required and not value.strip() else None

        return self.get(table, path, key, str, required=required, default=default, check=non_empty)

    def strings(self, table: dict, path: str, key: str, *, required: bool = True) -> tuple[str, ...]:
        items = self.get(table, path, key, list, required=required, default=[])
        full = _join(path, key)
        return tuple(item for i, item in enumerate(items) if self.value(item, f"{full}[{i}]", str) is not None)

    def entries(
        self, table: dict, path: str, key: str, *, required: bool = False, expect: str | None = None
    ) -> list[tuple[str, dict]]:
        """The tables of an array of tables, each with its path."""
        items = self.get(
            table, path, key, list, required=required, default=[], expect=expect or f"an array of tables [[{key}]]"
        )
        full = _join(path, key)
        return [(f"{full}[{i}]", item) for i, item in enumerate(items) if self.table(item, f"{full}[{i}]") is not None]

    def unique(self, items: Iterable[tuple[str, Any]], what: str) -> None:
        """Report each (path, value) whose value an earlier one has; None values are skipped."""
        seen: dict[Any, str] = {}
        for path, value in items:
            if value is None or not isinstance(value, Hashable):
                continue  # a value of the wrong kind is reported where it is read
            if value in seen:
                self.problem(
                    path, f"duplicate {what} {value!r} (expected a {what} not used before; {seen[value]} has it)"
                )
            else:
                seen[value] = path


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__} ({value})"  # TOML dates and times


_KIND_NAMES = {
    str: "a string",
    int: "a whole number",
    float: "a number",
    (int, float): "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


def kind_name(kind: type | tuple) -> str:
    if kind in _KIND_NAMES:
        return _KIND_NAMES[kind]
    if isinstance(kind, tuple):
        return " or ".join(kind_name(k) for k in kind)
    return "a value" if kind is object else f"a {kind.__name__}"


def or_list(items: Iterable[Any]) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def one_of(allowed: Iterable[Any]) -> Check:
    allowed = tuple(allowed)  # a tuple, so that an unhashable value is refused, not a TypeError
    return lambda v: None if v in allowed else f"{v!r} is not allowed (expected {or_list(allowed)})"


def between(low: float, high: float | None = None, unit: str = "", *, above: bool = False) -> Check:
    """A number from ``low`` (more than ``low`` with ``above``, which needs ``high``) up to ``high``."""
    if high is None:
        wanted = f"{low}{unit} or more"
    else:
        wanted = f"more than {low} and at most {high}{unit}" if above else f"{low} to {high}{unit}"

    def check(v: float) -> str | None:
        fits = (v > low if above else v >= low) and (high is None or v <= high)
        return None if fits else f"is {v} (expected {wanted})"

    return check
