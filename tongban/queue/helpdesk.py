"""Help requests from the kiosks (docs/kiosk.md#asking-for-help).

A citizen presses 请工作人员帮助 / Ask staff for help on a kiosk. ``ask_for_help`` records it as
an alert (kind ``help``, device ``kiosk:<id>``) in the same ``alerts`` table the printers use, so it
reaches the consoles by the path printer alerts take (docs/architecture.md §Print jobs): the
manager's console, and the consoles of the windows marked ``help_desk`` in the hall file. The alert
names the kiosk by its name and place.

- **One open request per kiosk.** While a kiosk's request is open (nobody acknowledged it), asking
  again records nothing and answers with the open one: a citizen who presses three times raises one
  alert.
- **Acknowledged means someone is coming.** The kiosk says so for ``COMING_S`` after the
  acknowledgement, then offers the button again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..texts import split_bilingual, text
from .store import Store, parse_iso, utc_iso

KIND = "help"
COMING_S = 300  # how long the kiosk says "someone is coming" after a member of staff acknowledged


@dataclass(frozen=True)
class HelpState:
    """What a kiosk shows about help: ``none`` (the button), ``asked`` (staff told, not yet answered)
    or ``coming`` (a member of staff acknowledged it)."""

    state: str
    alert_id: int | None = None
    at: datetime | None = None


def device(kiosk_id: str) -> str:
    return f"kiosk:{kiosk_id}"


def _message(kiosk: Any) -> tuple[str, str]:
    """The alert's words: 一楼大厅取号机 1（一楼大厅入口）有群众请求工作人员帮助 / Ground floor kiosk 1 (…): …"""
    name_zh, name_en = split_bilingual(kiosk.name or kiosk.id)
    if not kiosk.location:
        return text("help_alert", "zh", kiosk=name_zh), text("help_alert", "en", kiosk=name_en)
    place_zh, place_en = split_bilingual(kiosk.location)
    return (
        text("help_alert_at", "zh", kiosk=name_zh, place=place_zh),
        text("help_alert_at", "en", kiosk=name_en, place=place_en),
    )


def ask_for_help(store: Store, kiosk: Any, now: datetime) -> HelpState:
    """A citizen at ``kiosk`` (a config ``Kiosk``: id, name, location) asks for staff: one alert,
    unless the kiosk's last request is still open, which is then the answer."""
    with store.immediate() as conn:
        row = conn.execute(
            "SELECT id, at FROM alerts WHERE device = ? AND kind = ? AND acked_at IS NULL ORDER BY id DESC LIMIT 1",
            (device(kiosk.id), KIND),
        ).fetchone()
        if row is not None:
            return HelpState("asked", row["id"], parse_iso(row["at"]))
        zh, en = _message(kiosk)
        cursor = conn.execute(
            "INSERT INTO alerts (device, kind, message_zh, message_en, at) VALUES (?,?,?,?,?)",
            (device(kiosk.id), KIND, zh, en, utc_iso(now)),
        )
        return HelpState("asked", cursor.lastrowid, now)


def help_state(store: Store, kiosk_id: str, now: datetime) -> HelpState:
    """The kiosk's last request: open (``asked``), acknowledged within ``COMING_S`` (``coming``), or ``none``."""
    row = store.one(
        "SELECT id, at, acked_at FROM alerts WHERE device = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        (device(kiosk_id), KIND),
    )
    if row is None:
        return HelpState("none")
    if row["acked_at"] is None:
        return HelpState("asked", row["id"], parse_iso(row["at"]))
    acked = parse_iso(row["acked_at"])
    if now - acked < timedelta(seconds=COMING_S):
        return HelpState("coming", row["id"], acked)
    return HelpState("none")
