"""What each display should show now, as a pure function of window state.

Kept apart from the bus worker so the texts can be tested and changed without a serial port, and
so a replay after a reconnect shows exactly what a fresh update would.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, fields

from ..texts import text
from .errors import DisplayError

# The window states the core reports. "called" and "serving" both show the ticket: the citizen who
# was called is at the counter, and the strip should still say who that is.
WINDOW_STATES = ("idle", "called", "serving", "paused", "closed")

_FIELDS_ALLOWED = {
    "called": {"number", "window"},
    "serving": {"number", "window"},
    "idle": {"window"},
    "paused": {"window"},
    "closed": {"window"},
    "hall_line": {"number", "window"},
    "keypad_idle": {"window"},
    "keypad_paused": {"window"},
    "keypad_closed": {"window"},
    "keypad_number": {"number", "window"},
}


@dataclass(frozen=True)
class DisplayWorld:
    """Text templates (str.format with {number} and {window}); the defaults are the usual hall
    wording, led_* in the text table (devices.toml). A hall changes them through `from_config`."""

    called: str = text("led_called")
    serving: str = text("led_serving")
    idle: str = text("led_idle")
    paused: str = text("led_paused")
    closed: str = text("led_closed")
    hall_line: str = text("led_hall_line")
    # A keypad's LED is a few seven-segment digits: the ticket, or a short code for the state.
    keypad_number: str = "{number}"
    keypad_idle: str = "----"
    keypad_paused: str = "P"
    keypad_closed: str = ""

    def window_text(self, window_state: str, window_number: int, current_number: str | None) -> str:
        if window_state not in WINDOW_STATES:
            raise DisplayError(f"unknown window state {window_state!r} (expected {', '.join(WINDOW_STATES)})")
        if window_state in ("called", "serving") and not current_number:
            window_state = "idle"  # nothing to call out; show the window rather than "请None"
        template = getattr(self, window_state)
        return template.format(number=current_number or "", window=window_number)

    def keypad_text(self, window_state: str, window_number: int, current_number: str | None) -> str:
        if window_state not in WINDOW_STATES:
            raise DisplayError(f"unknown window state {window_state!r} (expected {', '.join(WINDOW_STATES)})")
        if window_state in ("called", "serving") and current_number:
            template = self.keypad_number
        elif window_state in ("paused", "closed"):
            template = getattr(self, f"keypad_{window_state}")
        else:
            template = self.keypad_idle
        return template.format(number=current_number or "", window=window_number)

    def hall_text(self, calls: Iterable[tuple[int, str]], rows: int) -> str:
        """One line per window from (window, number) pairs, newest first; blank rows clear
        whatever a board showed before, since boards keep old rows until overwritten."""
        lines = [self.hall_line.format(number=number, window=window) for window, number in calls][:rows]
        lines += [""] * (rows - len(lines))
        return "\n".join(lines)

    @classmethod
    def from_config(cls, entry: dict, path: str) -> tuple[DisplayWorld | None, list[str]]:
        """A `{called = "...", paused = "...", ...}` table; unknown keys and unknown {fields} are
        errors, so a typo shows up at check-config instead of on the strip."""
        errors = []
        names = [f.name for f in fields(cls)]
        if not isinstance(entry, dict):
            return None, [f"{path}: expected a table"]
        kw = {}
        for k, v in entry.items():
            if k not in names:
                errors.append(f"{path}.{k}: unknown key (expected one of {', '.join(names)})")
                continue
            if not isinstance(v, str):
                errors.append(f"{path}.{k}: {v!r} is not a string")
                continue
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
            except ValueError as e:
                errors.append(f"{path}.{k}: {e} (expected text with {{number}} or {{window}})")
                continue
            bad = used - _FIELDS_ALLOWED[k]
            if bad:
                errors.append(
                    f"{path}.{k}: {{{sorted(bad)[0]}}} is not available here "
                    f"(expected {', '.join('{' + f + '}' for f in sorted(_FIELDS_ALLOWED[k]))})"
                )
                continue
            kw[k] = v
        if errors:
            return None, errors
        return cls(**kw), []
