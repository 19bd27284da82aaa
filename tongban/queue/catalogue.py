"""The district's matter catalogue in a hall: checked, held as pending, applied (docs/config.md "District catalogue").

The district publishes departments, matters (with their batches and materials) and a directory of
the district's windows. A hall's own things stay in its hall file: lines, windows, hours, kiosks,
devices. The effective configuration is the hall file with the applied catalogue's departments,
matters and windows directory in place of the file's own; the matters are those the hall's lines
offer, so a district-wide catalogue does not fill one hall's kiosk with another hall's matters.

Both checks use the hall file's own rules (tongban/config.py), so a catalogue is refused with the
same messages ``tongban check-config`` prints:

- ``check_catalogue`` — the catalogue alone (the district runs it before it stores a version);
- ``effective_config`` — the catalogue against this hall's lines (a line offering a matter the
  catalogue lacks is refused here, and the hall keeps what it had).

State lives in the hall's ``settings`` table, so this needs no schema change and one transaction
writes it: ``catalogue.pending``, ``catalogue.applied``, ``catalogue.version`` (the applied
version alone, read on every request by the web to notice a change cheaply), ``catalogue.refused``
and ``catalogue.seen`` (the last version fetched, for If-None-Match).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import replace
from typing import Any

from ..checking import Checker
from ..config import (
    ConfigError,
    DistrictWindow,
    HallConfig,
    Line,
    _departments,
    _lines,
    _matters,
)
from . import calendar
from .clock import Clock
from .store import Store, utc_iso

log = logging.getLogger("tongban.catalogue")

TOP_KEYS = ("departments", "matters", "windows_directory")
DIRECTORY_KEYS = (
    "hall",
    "hall_name",
    "window",
    "name_zh",
    "name_en",
    "location_zh",
    "location_en",
    "phone",
    "hours",
    "matters",
)

PENDING, APPLIED, VERSION, REFUSED, SEEN = (
    "catalogue.pending",
    "catalogue.applied",
    "catalogue.version",
    "catalogue.refused",
    "catalogue.seen",
)


def _directory(c: Checker, doc: dict, matters: set[str]) -> list[DistrictWindow]:
    out = []
    for path, t in c.entries(doc, "", "windows_directory"):
        c.unknown(t, path, DIRECTORY_KEYS)
        hall = c.text(t, path, "hall")
        c.text(t, path, "window")
        name = c.text(t, path, "name_zh")
        c.text(t, path, "name_en", required=False)
        location = c.text(t, path, "location_zh")
        c.text(t, path, "location_en", required=False)
        for i, code in enumerate(c.strings(t, path, "matters", required=False)):
            if code not in matters:
                c.problem(f"{path}.matters[{i}]", f"{code!r} is not a matter (expected a [[matters]] code)")
        out.append(
            DistrictWindow(
                hall=c.text(t, path, "hall_name", required=False) or hall,
                address=location,
                window=name,
                phone=c.text(t, path, "phone", required=False),
                hours=c.text(t, path, "hours", required=False),
                hall_id=hall,
            )
        )
    return out


def _parts(c: Checker, doc: Any) -> tuple[list, list, list]:
    if not isinstance(doc, dict):
        c.problem("(catalogue)", "is not a table (expected departments, matters and windows_directory)")
        return [], [], []
    c.unknown(doc, "(top level)", TOP_KEYS)
    departments = _departments(c, doc)
    matters = _matters(c, doc, {d.code for d in departments})
    if not matters and "matters" in doc:
        c.problem("matters", "is empty (expected at least one [[matters]] table)")
    elif "matters" not in doc:
        c.problem("matters", "is missing (expected an array of tables [[matters]])")
    directory = _directory(c, doc, {m.code for m in matters})
    return departments, matters, directory


def check_catalogue(doc: Any) -> list[str]:
    """Every problem of a catalogue on its own, in check-config's words (empty: it will do)."""
    c = Checker()
    _parts(c, doc)
    return c.problems


def _line_table(line: Line) -> dict:
    """A line back as the hall file wrote it, so the file's own line rules check it again."""
    t: dict[str, Any] = {
        "prefix": line.prefix,
        "name_zh": line.name_zh,
        "name_en": line.name_en,
        "matters": list(line.matters),
        "number_width": line.number_width,
    }
    if line.daily_quota is not None:
        t["daily_quota"] = line.daily_quota
    if line.last_issue is not None:
        t["last_issue"] = f"{line.last_issue:%H:%M}"
    return t


def effective_config(base: HallConfig, doc: Any, source: str = "catalogue") -> HallConfig:
    """The hall file ``base`` with the catalogue's departments, matters and windows directory.

    Raises ConfigError with every problem: the catalogue's own, and each line of the hall that
    offers a matter the catalogue does not have."""
    c = Checker()
    departments, matters, directory = _parts(c, doc)
    offered = {code for line in base.lines for code in line.matters}
    known = {m.code for m in matters}
    # Only the offered matters the catalogue has count as matters here: the district's other
    # matters are not this hall's, and "in no line" must not refuse them.
    _lines(c, {"lines": [_line_table(line) for line in base.lines]}, offered & known)
    if c.problems:
        raise ConfigError(c.problems, source)
    return replace(
        base,
        departments=tuple(departments),
        matters=tuple(m for m in matters if m.code in offered),
        district_windows=tuple(directory),
    )


def changes(old: HallConfig, new: HallConfig) -> dict[str, list[dict]]:
    """What accepting would change in the hall's matters: added, removed, renamed, otherwise changed."""
    before = {m.code: m for m in old.matters}
    after = {m.code: m for m in new.matters}
    out: dict[str, list[dict]] = {"added": [], "removed": [], "renamed": [], "changed": []}
    for code, m in after.items():
        if code not in before:
            out["added"].append({"code": code, "name_zh": m.name_zh, "name_en": m.name_en})
        elif (before[code].name_zh, before[code].name_en) != (m.name_zh, m.name_en):
            was = before[code]
            out["renamed"].append(
                {
                    "code": code,
                    "from_zh": was.name_zh,
                    "from_en": was.name_en,
                    "name_zh": m.name_zh,
                    "name_en": m.name_en,
                }
            )
        elif before[code] != m:
            out["changed"].append({"code": code, "name_zh": m.name_zh, "name_en": m.name_en})
    for code, m in before.items():
        if code not in after:
            out["removed"].append({"code": code, "name_zh": m.name_zh, "name_en": m.name_en})
    return out


# ---------- state in the hall database ----------


def _get(store: Store, key: str) -> Any:
    row = store.one("SELECT value FROM settings WHERE key = ?", (key,))
    return json.loads(row["value"]) if row else None


def _put(conn, key: str, value: Any) -> None:
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value, ensure_ascii=False)),
    )


def _drop(conn, key: str) -> None:
    conn.execute("DELETE FROM settings WHERE key = ?", (key,))


def seen_version(store: Store) -> str | None:
    return _get(store, SEEN)


def applied_version(store: Store) -> str | None:
    return _get(store, VERSION)


def receive(store: Store, base: HallConfig, clock: Clock, version: str, doc: Any) -> dict:
    """A catalogue fetched from the district: held as pending when it fits this hall, else
    recorded as refused with the checker's messages (the applied one, if any, stays)."""
    now = utc_iso(clock.now())
    with store.immediate() as conn:
        _put(conn, SEEN, version)
        if version == _get(store, VERSION):
            return {"result": "current", "version": version}
        try:
            effective_config(base, doc, f"catalogue {version}")
        except ConfigError as exc:
            _put(conn, REFUSED, {"version": version, "problems": exc.problems, "at": now})
            log.warning("district catalogue %s refused: %s", version, "; ".join(exc.problems))
            return {"result": "refused", "version": version, "problems": exc.problems}
        _put(conn, PENDING, {"version": version, "catalogue": doc, "fetched_at": now})
        _drop(conn, REFUSED)
    return {"result": "pending", "version": version}


def apply_pending(store: Store, base: HallConfig, clock: Clock, *, actor: str) -> dict:
    """Make the pending catalogue the applied one (at roll-over, or the manager's Accept).

    Checked again against the hall file as it is now: the lines may have changed since it came."""
    now = utc_iso(clock.now())
    with store.immediate() as conn:
        pending = _get(store, PENDING)
        if pending is None:
            return {"result": "nothing"}
        version = pending["version"]
        _drop(conn, PENDING)
        try:
            effective_config(base, pending["catalogue"], f"catalogue {version}")
        except ConfigError as exc:
            _put(conn, REFUSED, {"version": version, "problems": exc.problems, "at": now})
            return {"result": "refused", "version": version, "problems": exc.problems}
        _put(
            conn,
            APPLIED,
            {"version": version, "catalogue": pending["catalogue"], "applied_at": now, "applied_by": actor},
        )
        _put(conn, VERSION, version)
    log.info("district catalogue %s applied by %s", version, actor)
    return {"result": "applied", "version": version}


def apply_at_roll_over(store: Store, base: HallConfig, clock: Clock) -> dict:
    """The pending catalogue at the day's roll-over, before its first ticket. A devices process
    restarted later in the day runs the roll-over again (it is caught up at start); that is not a
    new day, so the pending catalogue keeps waiting for the manager or the next midnight."""
    today = calendar.service_day(clock.now(), base.hall)
    if store.one("SELECT 1 FROM job_runs WHERE job = 'rollover' AND day = ?", (today,)):
        return {"result": "not_a_new_day"}
    return apply_pending(store, base, clock, actor="roll-over")


def status(store: Store, base: HallConfig) -> dict:
    """For the manager console: the applied version, the pending one with what it changes, the
    last refusal with the checker's messages."""
    applied = _get(store, APPLIED)
    current = base
    if applied is not None:
        try:
            current = effective_config(base, applied["catalogue"])
        except ConfigError:
            pass  # the hall file changed under it; the overlay falls back to the file too
    pending = _get(store, PENDING)
    pending_view = None
    if pending is not None:
        try:
            pending_view = {
                "version": pending["version"],
                "fetched_at": pending["fetched_at"],
                "changes": changes(current, effective_config(base, pending["catalogue"])),
            }
        except ConfigError as exc:
            pending_view = {
                "version": pending["version"],
                "fetched_at": pending["fetched_at"],
                "problems": exc.problems,
            }
    return {
        "applied": {k: applied[k] for k in ("version", "applied_at", "applied_by")} if applied else None,
        "pending": pending_view,
        "refused": _get(store, REFUSED),
    }


class CatalogueOverlay:
    """The effective configuration of a process: its hall file plus the applied catalogue.

    ``current(store)`` costs one small read; the configuration is rebuilt only when the applied
    version changed, so the web picks up an accepted catalogue on its next request, with no restart."""

    def __init__(self, base: HallConfig):
        self.base = base
        self._lock = threading.Lock()
        self._version: str | None = None
        self._config = base

    def current(self, store: Store) -> HallConfig:
        version = applied_version(store)
        if version == self._version:
            return self._config
        with self._lock:
            if version != self._version:
                config = self.base
                applied = _get(store, APPLIED) if version is not None else None
                if applied is not None:
                    try:
                        config = effective_config(self.base, applied["catalogue"], f"catalogue {version}")
                    except ConfigError as exc:
                        # Only a hall file edited since the catalogue was applied gets here: the file wins.
                        log.error("applied catalogue %s no longer fits the hall file: %s", version, exc)
                self._config, self._version = config, version
        return self._config
