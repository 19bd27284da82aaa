"""Print jobs between the web and the devices process (docs/architecture.md §Print jobs).

The ticket is committed before anything is printed. The kiosk's ticket transaction inserts a job
with a deadline; a printer's worker in the devices process claims it, prints, and writes the
outcome. A job not printed by its deadline is a failure as far as the citizen is concerned: the
kiosk shows the ticket on screen, and the slip is never printed late (a slip appearing after the
citizen walked away only confuses). So:

- **A lease.** Claiming a job records until when the worker holds it (``lease_until``: the deadline
  plus the printer's timeout and a little slack). Until then only that worker finishes it. A job
  left ``printing`` by a killed devices process is taken back once the lease has run out, by
  whoever looks first (the devices process at its next claim or start, a kiosk's poll, a
  console), and failed: it is past its deadline by then, so it is never printed late.
- **Deadlines finish jobs, whoever notices first.** A pending job past its deadline is failed by
  the first of: the kiosk polling it, a console reading its alerts, the printer's worker. A worker
  claims only a job with at least its printer's start margin left, and prints within the deadline
  (printers.print_ticket); an outcome written after the deadline is a failure, never ``done``.
- **One alert per change of a printer's state**, naming the tickets to reprint: a failed job's
  ticket joins the open alert of the same printer and state instead of raising one more.

Every finish is a conditional UPDATE in a short write transaction, and the alert is written only
by the transaction that changed the row, so a job raises exactly one alert however many look.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..texts import Msg, split_bilingual, table, text
from .store import Store, parse_iso, utc_iso

DEFAULT_DEADLINE_S = 5.0
DEFAULT_TIMEOUT_S = 3.0  # a printer's timeout_s when the caller names none (printers/config.py)
LEASE_SLACK_S = 1.0  # on top of the deadline and the printer's timeout: the worker's own bookkeeping
FINAL = ("done", "failed")
QUIET_STATES = ("ok", "unknown")  # printer states that raise no alert by themselves (unknown: not yet asked)

#: What people call each printer: id -> (Chinese, English). A printer missing here is called by its id.
Names = Mapping[str, tuple[str, str]]

# An overdue job: pending past its deadline, or printing past its lease (no lease: claimed by code
# that kept none, so its deadline).
_OVERDUE = (
    "((state = 'pending' AND deadline <= :late) OR (state = 'printing' AND COALESCE(lease_until, deadline) <= :now))"
)


def printer_names(config: Any) -> dict[str, tuple[str, str]]:
    """Printers by the names of the kiosks that print on them ("一楼大厅取号机 1 / Ground floor kiosk 1"),
    from a HallConfig (not imported: config.py reads [[printers]] through the printers package,
    which imports this module)."""
    names: dict[str, tuple[str, str]] = {}
    for printer in config.printers:
        kiosks = [split_bilingual(k.name) for k in config.kiosks if k.printer == printer.id and k.name]
        if kiosks:
            names[printer.id] = ("、".join(zh for zh, _ in kiosks), ", ".join(en for _, en in kiosks))
    return names


def device_names(config: Any) -> dict[str, tuple[str, str]]:
    """Every device as people call it, by its device id ("printer:…", "bus:BUS:ADDRESS"): printers by
    their kiosks, window displays and keypads by their window, hall boards by their name or address."""
    names = {f"printer:{printer}": name for printer, name in printer_names(config).items()}
    for printer in config.printers:
        names.setdefault(f"printer:{printer.id}", (text("dev_name_printer", "zh"), text("dev_name_printer", "en")))
    for bus in config.buses:
        for d in bus.devices:
            if d.name:
                zh, en = split_bilingual(d.name)
            else:
                key = f"dev_name_{d.kind}"
                values = {"n": d.window, "address": d.address}
                zh, en = text(key, "zh", **values), text(key, "en", **values)
            names[f"bus:{bus.id}:{d.address}"] = (zh, en)
    for kiosk in config.kiosks:
        if kiosk.idcard:
            zh, en = split_bilingual(kiosk.name) if kiosk.name else (kiosk.id, kiosk.id)
            names[f"idcard:{kiosk.id}"] = (
                text("dev_name_idcard", "zh", kiosk=zh),
                text("dev_name_idcard", "en", kiosk=en),
            )
    for window in config.windows:
        if window.idcard:
            names[f"idcard:window:{window.number}"] = (
                text("dev_name_idcard", "zh", kiosk=text("window_label", "zh", n=window.number)),
                text("dev_name_idcard", "en", kiosk=text("window_label", "en", n=window.number)),
            )
    return names


def device_name(names: Names, device: str) -> tuple[str, str]:
    """A device as people call it; one the hall file no longer has is called that, not by its id."""
    return names.get(device) or (text("dev_name_other", "zh"), text("dev_name_other", "en"))


def state_words(kind: str, state: str) -> tuple[str, str]:
    """A device state in words, never its code ("paper_end" is 缺纸 / out of paper)."""
    keys = ([f"dev_printer_{state}"] if kind == "printer" else []) + [f"dev_state_{state}", "dev_state_other"]
    key = next(k for k in keys if k in table())
    return text(key, "zh"), text(key, "en")


def enqueue(
    store: Store,
    ticket_id: int,
    printer: str,
    now: datetime,
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    reprint: bool = False,
) -> int:
    with store.immediate() as conn:
        cur = conn.execute(
            "INSERT INTO print_jobs (ticket_id, printer, reprint, created_at, deadline) VALUES (?,?,?,?,?)",
            (ticket_id, printer, int(reprint), utc_iso(now), utc_iso(now + timedelta(seconds=deadline_s))),
        )
        assert cur.lastrowid is not None  # set by the INSERT just above
        return cur.lastrowid


def job(store: Store, job_id: int, now: datetime, *, names: Names | None = None) -> dict | None:
    """The job as the kiosk polls it. An overdue job (pending past its deadline, or printing past its
    lease) is failed here first, with its alert, so what the kiosk shows is what the job records,
    with or without a devices process. A job being printed is its worker's until the lease ends."""
    row = store.one("SELECT * FROM print_jobs WHERE id = ?", (job_id,))
    if row is None:
        return None
    if _is_overdue(row, now):
        with store.immediate() as conn:
            _finish_overdue(conn, job_id, now, 0.0, names or {})
        row = store.one("SELECT * FROM print_jobs WHERE id = ?", (job_id,))
        assert row is not None  # jobs are never deleted
    return dict(row)


def _is_overdue(row, now: datetime) -> bool:
    if row["state"] == "pending":
        return parse_iso(row["deadline"]) <= now
    if row["state"] == "printing":
        return parse_iso(row["lease_until"] or row["deadline"]) <= now
    return False


def sweep(store: Store, now: datetime, *, names: Names | None = None) -> int:
    """Fail every overdue job with its alert; the number failed. Reads first, so a hall with nothing
    overdue takes no write lock (the consoles call this on every render)."""
    if store.one(f"SELECT 1 FROM print_jobs WHERE {_OVERDUE} LIMIT 1", _window(now)) is None:
        return 0
    with store.immediate() as conn:
        return _sweep(conn, now, names or {})


def _window(now: datetime, margin_s: float = 0.0, printer: str | None = None) -> dict:
    return {"now": utc_iso(now), "late": utc_iso(now + timedelta(seconds=margin_s)), "printer": printer}


def _sweep(conn, now: datetime, names: Names, *, printer: str | None = None, margin_s: float = 0.0) -> int:
    where = _OVERDUE + (" AND printer = :printer" if printer else "")
    ids = [r["id"] for r in conn.execute(f"SELECT id FROM print_jobs WHERE {where}", _window(now, margin_s, printer))]
    return sum(_finish_overdue(conn, job_id, now, margin_s, names) for job_id in ids)


def _finish_overdue(conn, job_id: int, now: datetime, margin_s: float, names: Names) -> bool:
    """Fail one overdue job, if it still is; True when this call did (and raised its alert)."""
    row = _job_with_number(conn, job_id)
    deadline = parse_iso(row["deadline"])
    if row["state"] == "pending" and deadline <= now + timedelta(seconds=margin_s):
        reason = "late"
        error = "not printed before the deadline" if deadline <= now else "too little time left to print it"
    elif row["state"] == "printing" and parse_iso(row["lease_until"] or row["deadline"]) <= now:
        reason = "lost"
        error = "the devices process stopped while printing it (its lease ran out)"
    else:
        return False
    cur = conn.execute(
        "UPDATE print_jobs SET state = 'failed', status = 'timeout', error = ?, finished_at = ?"
        " WHERE id = ? AND state = ?",
        (error, utc_iso(now), job_id, row["state"]),
    )
    if cur.rowcount:
        _printer_event(conn, row["printer"], now, names, ticket=row["number"], reason=reason)
    return bool(cur.rowcount)


def _job_with_number(conn, job_id: int):
    return conn.execute(
        "SELECT j.*, t.number FROM print_jobs j JOIN tickets t ON t.id = j.ticket_id WHERE j.id = ?", (job_id,)
    ).fetchone()


def claim_next(
    store: Store,
    now: datetime,
    *,
    printer: str | None = None,
    margin_s: float = 0.0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    names: Names | None = None,
) -> dict | None:
    """Take the oldest pending job (for one printer, if named) that has at least ``margin_s`` left
    before its deadline, and lease it until the deadline plus ``timeout_s`` and a little slack.

    The same transaction fails the printer's overdue jobs: pending ones with less than the margin
    left (they could not be printed in time) and printing ones whose lease ran out (a killed
    devices process). Reads first, so an idle printer's poll takes no write lock."""
    only = " AND printer = :printer" if printer else ""
    params = _window(now, margin_s, printer)
    waiting = f"(state = 'pending' OR {_OVERDUE}){only}"
    if store.one(f"SELECT 1 FROM print_jobs WHERE {waiting} LIMIT 1", params) is None:
        return None
    with store.immediate() as conn:
        _sweep(conn, now, names or {}, printer=printer, margin_s=margin_s)
        row = conn.execute(
            f"SELECT * FROM print_jobs WHERE state = 'pending'{only} ORDER BY id LIMIT 1", params
        ).fetchone()
        if row is None:
            return None
        lease = utc_iso(parse_iso(row["deadline"]) + timedelta(seconds=timeout_s + LEASE_SLACK_S))
        conn.execute("UPDATE print_jobs SET state = 'printing', lease_until = ? WHERE id = ?", (lease, row["id"]))
        return {**dict(row), "state": "printing", "lease_until": lease}


def complete(
    store: Store,
    job_id: int,
    now: datetime,
    *,
    ok: bool,
    status: str,
    error: str | None = None,
    printer_state: str | None = None,
    names: Names | None = None,
) -> str:
    """Record a worker's outcome at ``now``, when it knew it; returns the job's state.

    ``done`` only for a print that succeeded by the deadline, the time the citizen was promised: a
    slip that finished later is a failure (``timeout``), shown on the kiosk as the fallback and
    never as printed. A job no longer ``printing`` (taken back when its lease ran out) keeps what
    it has. ``printer_state`` is the printer's DLE EOT state as the job left it
    (default: ``ok`` for a print, the failure's status otherwise); it goes to ``device_status``,
    and the one alert names the ticket when it must be reprinted."""
    with store.immediate() as conn:
        row = _job_with_number(conn, job_id)
        if row is None or row["state"] != "printing":
            return row["state"] if row is not None else "missing"
        late = ok and parse_iso(row["deadline"]) < now
        if late:
            state, status, error = "failed", "timeout", "printed only after its deadline: the kiosk shows it on screen"
        else:
            state = "done" if ok else "failed"
        conn.execute(
            "UPDATE print_jobs SET state = ?, status = ?, error = ?, finished_at = ?"
            " WHERE id = ? AND state = 'printing'",
            (state, status, error, utc_iso(now), job_id),
        )
        _printer_event(
            conn,
            row["printer"],
            now,
            names or {},
            state=printer_state or ("ok" if ok else status),
            detail=error or "",
            ticket=row["number"] if state == "failed" else None,
            reason="printed_late" if late else None,
        )
        return state


def record_device_status(
    store: Store, device: str, kind: str, state: str, detail: str, now: datetime, *, names: Names | None = None
) -> None:
    """A device's state from a health check; one alert when it changes to a bad one."""
    with store.immediate() as conn:
        if kind == "printer" and device.startswith("printer:"):
            _printer_event(conn, device.removeprefix("printer:"), now, names or {}, state=state, detail=detail)
        elif _set_status(conn, device, kind, state, detail, now) and state not in QUIET_STATES:
            # The driver's detail stays in device_status for the technician; the alert is in words.
            name_zh, name_en = device_name(names or {}, device)
            word_zh, word_en = state_words(kind, state)
            message = (
                text("dev_device_bad", "zh", device=name_zh, state=word_zh),
                text("dev_device_bad", "en", device=name_en, state=word_en),
            )
            _alert(conn, device, f"device_{state}", now, message)


def _set_status(conn, device: str, kind: str, state: str, detail: str, now: datetime) -> bool:
    """Record a device's state; True when it differs from the one recorded before."""
    previous = conn.execute("SELECT state FROM device_status WHERE device = ?", (device,)).fetchone()
    conn.execute(
        "INSERT INTO device_status (device, kind, state, detail, at) VALUES (?,?,?,?,?)"
        " ON CONFLICT(device) DO UPDATE SET state = excluded.state, detail = excluded.detail, at = excluded.at",
        (device, kind, state, detail, utc_iso(now)),
    )
    return previous is None or previous["state"] != state


def _printer_event(
    conn,
    printer: str,
    now: datetime,
    names: Names,
    *,
    state: str | None = None,
    detail: str = "",
    ticket: str | None = None,
    reason: str | None = None,
) -> None:
    """A printer's new state (if known) and a ticket to reprint (if any): at most one new alert.

    A change to a state other than ok/unknown raises an alert, naming the ticket when there is
    one. A ticket to reprint without such a change joins the open alert of the same printer and
    reason ("A012、A013 号需补打"), or raises one if none is open (acknowledged already)."""
    device = f"printer:{printer}"
    changed = state is not None and _set_status(conn, device, "printer", state, detail, now)
    reason = reason or state or "late"
    kind = f"printer_{reason}"
    if ticket is None:
        if changed and reason not in QUIET_STATES:
            _alert(conn, device, kind, now, _printer_message(printer, reason, [], names))
        return
    open_alert = None
    if not (changed and reason == state):  # a state change is news: a new alert, not an old one grown
        open_alert = conn.execute(
            "SELECT id, tickets FROM alerts WHERE device = ? AND kind = ? AND acked_at IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (device, kind),
        ).fetchone()
    if open_alert is None:
        _alert(conn, device, kind, now, _printer_message(printer, reason, [ticket], names), [ticket])
        return
    tickets = [*open_alert["tickets"].split(), ticket]
    zh, en = _printer_message(printer, reason, tickets, names)
    conn.execute(
        "UPDATE alerts SET tickets = ?, message_zh = ?, message_en = ?, at = ? WHERE id = ?",
        (" ".join(tickets), zh, en, utc_iso(now), open_alert["id"]),
    )


def _printer_message(printer: str, reason: str, tickets: list[str], names: Names) -> tuple[str, str]:
    """The alert's words, e.g. 打印机 一楼大厅取号机 1 缺纸，A012、A013 号需补打 /
    Printer Ground floor kiosk 1: out of paper; reprint A012, A013."""
    key = f"dev_printer_{reason}"
    word = Msg(key) if key in table() else Msg("dev_printer_other", state=reason)
    name_zh, name_en = names.get(printer, (printer, printer))
    if not tickets:
        return text("dev_printer", "zh", printer=name_zh, state=word), text(
            "dev_printer", "en", printer=name_en, state=word
        )
    return (
        text("dev_printer_reprint", "zh", printer=name_zh, state=word, tickets="、".join(tickets)),
        text("dev_printer_reprint", "en", printer=name_en, state=word, tickets=", ".join(tickets)),
    )


def _alert(
    conn, device: str, kind: str, now: datetime, message: tuple[str, str], tickets: list[str] | None = None
) -> None:
    conn.execute(
        "INSERT INTO alerts (device, kind, message_zh, message_en, at, tickets) VALUES (?,?,?,?,?,?)",
        (device, kind, *message, utc_iso(now), " ".join(tickets or [])),
    )


def open_alerts(
    store: Store, now: datetime | None = None, *, names: Names | None = None, help_requests: bool = True
) -> list[dict]:
    """The alerts no one has acknowledged, latest first. With ``now``, overdue jobs are failed first
    (``sweep``), so a console learns of a ticket to reprint even while the devices process is down.
    ``help_requests`` False leaves out the kiosks' help requests (queue/helpdesk.py), which only the
    manager and the help-desk windows answer."""
    if now is not None:
        sweep(store, now, names=names)
    rows = store.all(
        "SELECT * FROM alerts WHERE acked_at IS NULL AND (? OR kind != 'help') ORDER BY at DESC, id DESC",
        (help_requests,),
    )
    return [dict(r) for r in rows]


def ack_alert(store: Store, alert_id: int, who: str, now: datetime, *, help_requests: bool = True) -> None:
    """Acknowledge an open alert; a console that is not shown help requests cannot acknowledge one."""
    with store.immediate() as conn:
        conn.execute(
            "UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL AND (? OR kind != 'help')",
            (utc_iso(now), who, alert_id, help_requests),
        )


def device_statuses(store: Store) -> list[dict]:
    return [dict(r) for r in store.all("SELECT * FROM device_status ORDER BY device")]
