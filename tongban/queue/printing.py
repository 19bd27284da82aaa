"""Print jobs between the web and the devices process (docs/architecture.md §Print jobs).

The ticket is committed before anything is printed. The web inserts a job with a deadline; the
devices process claims it, prints, and writes the outcome. A job not finished by its deadline is
a failure as far as the citizen is concerned: the kiosk shows the ticket on screen, and the devices
process will not print it late (a slip appearing after the citizen walked away only confuses).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..texts import both
from .store import Store, parse_iso, utc_iso

DEFAULT_DEADLINE_S = 5.0
FINAL = ("done", "failed")


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


def job(store: Store, job_id: int, now: datetime) -> dict | None:
    """The job as the kiosk sees it: a pending job past its deadline reads as failed (timeout)."""
    row = store.one("SELECT * FROM print_jobs WHERE id = ?", (job_id,))
    if row is None:
        return None
    out = dict(row)
    if out["state"] not in FINAL and parse_iso(out["deadline"]) <= now:
        out.update(state="failed", status="timeout", error="not printed before the deadline")
    return out


def claim_next(store: Store, now: datetime, *, printer: str | None = None) -> dict | None:
    """Take the oldest pending job (for one printer, if named); jobs past their deadline are closed as timeouts."""
    where = "state = 'pending'" + (" AND printer = ?" if printer else "")
    params = (printer,) if printer else ()
    with store.immediate() as conn:
        while True:
            row = conn.execute(f"SELECT * FROM print_jobs WHERE {where} ORDER BY id LIMIT 1", params).fetchone()
            if row is None:
                return None
            if parse_iso(row["deadline"]) <= now:
                conn.execute(
                    "UPDATE print_jobs SET state = 'failed', status = 'timeout', error = ?, finished_at = ?"
                    " WHERE id = ?",
                    ("not printed before the deadline", utc_iso(now), row["id"]),
                )
                _alert(
                    conn,
                    f"printer:{row['printer']}",
                    "print_failed",
                    now,
                    *both("dev_print_late"),
                )
                continue
            conn.execute("UPDATE print_jobs SET state = 'printing' WHERE id = ?", (row["id"],))
            return dict(row)


def complete(store: Store, job_id: int, now: datetime, *, ok: bool, status: str, error: str | None = None) -> None:
    with store.immediate() as conn:
        row = conn.execute("SELECT printer FROM print_jobs WHERE id = ?", (job_id,)).fetchone()
        conn.execute(
            "UPDATE print_jobs SET state = ?, status = ?, error = ?, finished_at = ? WHERE id = ?",
            ("done" if ok else "failed", status, error, utc_iso(now), job_id),
        )
        if not ok and row is not None:
            _alert(
                conn,
                f"printer:{row['printer']}",
                "print_failed",
                now,
                *both("dev_print_failed", printer=row["printer"], status=status),
            )


def record_device_status(store: Store, device: str, kind: str, state: str, detail: str, now: datetime) -> None:
    with store.immediate() as conn:
        previous = conn.execute("SELECT state FROM device_status WHERE device = ?", (device,)).fetchone()
        conn.execute(
            "INSERT INTO device_status (device, kind, state, detail, at) VALUES (?,?,?,?,?)"
            " ON CONFLICT(device) DO UPDATE SET state = excluded.state, detail = excluded.detail,"
            " at = excluded.at",
            (device, kind, state, detail, utc_iso(now)),
        )
        # Alert once when a device goes bad, not on every health check while it stays bad.
        if state not in ("ok", "unknown") and (previous is None or previous["state"] != state):
            _alert(
                conn,
                device,
                f"device_{state}",
                now,
                *both("dev_device_bad", device=device, state=state, detail=detail),
            )


def _alert(conn, device: str, kind: str, now: datetime, message_zh: str, message_en: str) -> None:
    conn.execute(
        "INSERT INTO alerts (device, kind, message_zh, message_en, at) VALUES (?,?,?,?,?)",
        (device, kind, message_zh, message_en, utc_iso(now)),
    )


def open_alerts(store: Store) -> list[dict]:
    return [dict(r) for r in store.all("SELECT * FROM alerts WHERE acked_at IS NULL ORDER BY id DESC")]


def ack_alert(store: Store, alert_id: int, who: str, now: datetime) -> None:
    with store.immediate() as conn:
        conn.execute(
            "UPDATE alerts SET acked_at = ?, acked_by = ? WHERE id = ? AND acked_at IS NULL",
            (utc_iso(now), who, alert_id),
        )


def device_statuses(store: Store) -> list[dict]:
    return [dict(r) for r in store.all("SELECT * FROM device_status ORDER BY device")]
