"""Hall manager console (``/manage``) and the day report (``/manage/report``).

The console is one SSE page: the windows × lines matrix (one touch per cell toggles "serving now",
within what the window is able to serve; a lock pins the window against the balancer), window
controls, the balancer's held proposals, the live hall and device health. The day report reads the
events log for any date (queue/reports.py) and exports each table as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import Blueprint, abort, current_app, g, render_template, request, url_for

from ...queue import appointments, calendar, catalogue, errors, outbox, printing, reports, views
from ...queue.ratings import LEVELS, NOT_RATED
from ...queue.service import LINE_REASON_MAX, WINDOW_TRANSITIONS, window_actions
from ...queue.store import Store, utc_iso
from ...texts import split_bilingual
from .. import params
from ..access import page_requires
from ..context import disk_warnings, get_accounts, get_broker, get_clock, get_service, get_store
from ..errors import status_for
from ..i18n import Msg, both
from ..shared import csv_download, live, person, toast
from ..window.routes import printer_ids
from .charts import svg_bars, svg_share, svg_trend

manage = Blueprint("manage", __name__, template_folder="templates", url_prefix="/manage")

LEVEL_COLORS = {5: "#1b7a34", 4: "#5a9e2f", 3: "#c9a200", 2: "#e07b1f", 1: "#c62828", None: "#9aa5b1"}


def _refusal(exc: errors.QueueError):
    return toast("error", exc.message_zh, exc.message_en, status_for(exc))


# ---------- the live console ----------


def _device_rows(store: Store, config) -> list[dict]:
    """Every device the hall has: reported statuses, and configured devices that never reported."""
    reported = {d["device"]: d for d in printing.device_statuses(store)}
    rows = list(reported.values())
    for printer_id in printer_ids(config):
        if f"printer:{printer_id}" not in reported:
            rows.append(
                {"device": f"printer:{printer_id}", "kind": "printer", "state": "unknown", "detail": "", "at": None}
            )
    readers = [f"idcard:{k.id}" for k in config.kiosks if k.idcard]
    readers += [f"idcard:window:{w.number}" for w in config.windows if w.idcard]
    for device in readers:
        if device not in reported:
            rows.append({"device": device, "kind": "idcard", "state": "unknown", "detail": "", "at": None})
    # People read names and states in words; the ids and codes stay in data attributes and tooltips.
    names = printing.device_names(config)
    for row in rows:
        row["name_zh"], row["name_en"] = printing.device_name(names, row["device"])
        row["state_zh"], row["state_en"] = printing.state_words(row["kind"], row["state"])
    return sorted(rows, key=lambda r: (r["kind"], r["device"]))


#: A terminal that asked for a page this recently counts as connected without a live stream.
ACTIVE_S = 90


def _terminal_rows() -> list[dict]:
    """Every enrolled terminal (kiosk, rating pad, display) with its live connection: connected now,
    or when it was last seen since the web started (web/live.py, Broker.presence)."""
    presence = get_broker().presence()
    tz = get_service().hall.tz
    today = get_clock().now().astimezone(tz).date()

    def when(moment) -> str | None:
        if moment is None:
            return None
        local = moment.astimezone(tz)
        return f"{local:%H:%M}" if local.date() == today else f"{local:%Y-%m-%d %H:%M}"

    rows = []
    for t in get_accounts().terminals():
        if t["revoked_at"]:
            continue
        seen = presence.get(t["id"])
        # Connected: it holds its live stream, or asked for a page within the last ACTIVE_S (a kiosk in
        # use shows other screens than its live home screen).
        recent = seen is not None and (get_clock().now() - seen.last_seen).total_seconds() <= ACTIVE_S
        name_zh, name_en = split_bilingual(t["name"] or t["id"])
        rows.append(
            {
                **t,
                "name_zh": name_zh,
                "name_en": name_en,
                "connected": bool(seen and (seen.connected or recent)),
                "streams": seen.streams if seen else 0,
                "last_seen": when(seen.last_seen) if seen else None,
            }
        )
    return sorted(rows, key=lambda r: (r["connected"], r["kind"], r["id"]))


def _manage_context() -> dict:
    service = get_service()
    hall = views.live_hall(service)
    return {
        "windows": hall.windows,
        "current": hall.current,
        "lines": service.config.lines,
        "clerks": {w.number: person(w.clerk) for w in hall.windows},
        "primary": {w.number: service.config.window(w.number).primary for w in service.config.windows},
        "waits": hall.lines,
        "totals": views.hall_totals(service),
        "proposals": service.proposals(),
        "disk": disk_warnings(),
        "auto_apply": service.auto_apply(),
        "devices": _device_rows(service.store, service.config),
        "terminals": _terminal_rows(),
        "alerts": printing.open_alerts(
            service.store, service.clock.now(), names=printing.printer_names(service.config)
        ),
        "alert_ack_url": url_for("manage.ack_alert", alert_id=0),
        "now": service.clock.now(),
        "window_actions": window_actions,
        "line_states": (line_states := service.line_states()),
        # Who closed a line, by name (an account), or as recorded (the CLI's --by).
        "closers": {s.closed_by: (person(s.closed_by) or {})["name"] for s in line_states if s.closed_by},
        "reason_max": LINE_REASON_MAX,
        # Written by the devices process's sync worker; the web only reads it (docs/architecture.md §District sync).
        "sync": outbox.status(service.store, service.clock.now()),
    }


# "lines" changes only when a line is closed or opened, so a reason being typed there is not swapped away.
FRAGMENTS = ("matrix", "hall", "totals", "proposals", "devices", "alerts", "lines", "sync")


def _manage_fragments() -> dict[str, str]:
    ctx = _manage_context()
    return {
        name: render_template(f"_manage_{name}.html" if name != "alerts" else "_console_alerts.html", **ctx)
        for name in FRAGMENTS
    }


@manage.get("/")
@page_requires(manager=True)
def home():
    ctx = _manage_context()
    # Not in the live fragments: the catalogue changes a few times a year, and checking it on every push costs.
    panel = catalogue.status(get_store(), current_app.extensions["tongban.catalogue"].base)
    return render_template(
        "manage.html", **ctx, catalogue=panel, me=person(g.principal.actor), server_time=utc_iso(ctx["now"])
    )


@manage.get("/stream")
@page_requires(manager=True)
def stream():
    return live("manage", _manage_fragments)


def _matrix_oob() -> str:
    ctx = _manage_context()
    return f'<div id="matrix" hx-swap-oob="innerHTML">{render_template("_manage_matrix.html", **ctx)}</div>'


@manage.post("/windows/<id:number>/lines/<prefix>")
@page_requires(manager=True)
def toggle_line(number: int, prefix: str):
    """One touch on a matrix cell: serve this line now, or stop serving it (primary stays first)."""
    service = get_service()
    try:
        window = service.window(number)
        if prefix in window.serving:
            lines = [p for p in window.serving if p != prefix]
            message = both("toast_line_off", n=number, line=prefix)
        else:
            lines = [*window.serving, prefix]
            primary = service.config.window(number).primary
            lines.sort(key=lambda p: (p != primary, window.able.index(p) if p in window.able else 99))
            message = both("toast_line_on", n=number, line=prefix)
        service.set_serving(number, lines, actor=g.principal.actor, reason="manager")
    except errors.QueueError as exc:
        return _refusal(exc)
    return toast("ok", *message, oob=_matrix_oob())


@manage.post("/windows/<id:number>/pin")
@page_requires(manager=True)
def toggle_pin(number: int):
    service = get_service()
    try:
        window = service.set_pinned(number, not service.window(number).pinned, actor=g.principal.actor)
    except errors.QueueError as exc:
        return _refusal(exc)
    return toast("ok", *both("toast_pinned" if window.pinned else "toast_unpinned", n=number), oob=_matrix_oob())


@manage.post("/windows/<id:number>/state/<action>")
@page_requires(manager=True)
def window_state(number: int, action: str):
    if action not in WINDOW_TRANSITIONS:
        abort(404)
    service = get_service()
    try:
        # A manager opening a window for a clerk keeps the clerk who was last there.
        clerk = service.window(number).clerk if action == "open" else None
        service.window_action(number, action, clerk=clerk, actor=g.principal.actor)
    except errors.QueueError as exc:
        return _refusal(exc)
    return toast("ok", *both(f"toast_window_{action}", n=number), oob=_matrix_oob())


@manage.post("/proposals/<id:proposal_id>/<decision>")
@page_requires(manager=True)
def decide(proposal_id: int, decision: str):
    service = get_service()
    if decision not in ("accept", "reject") or not hasattr(service, "accept_proposal"):
        abort(404)
    try:
        if decision == "accept":
            p = service.accept_proposal(proposal_id, g.principal.actor)
        else:
            p = service.reject_proposal(proposal_id, g.principal.actor)
    except errors.QueueError as exc:
        return _refusal(exc)
    return toast("ok", *both(f"toast_proposal_{decision}", n=p["window"]), oob=_matrix_oob())


@manage.post("/balancer/run")
@page_requires(manager=True)
def run_balancer():
    service = get_service()
    if not hasattr(service, "balance"):
        abort(404)
    made = service.balance(actor=g.principal.actor)
    return toast("ok", *both("toast_balancer_ran", n=len(made)), oob=_matrix_oob())


@manage.post("/balancer/auto")
@page_requires(manager=True)
def toggle_auto():
    service = get_service()
    value = not service.auto_apply()
    service.set_auto_apply(value, actor=g.principal.actor)
    return toast("ok", *both("toast_auto_on" if value else "toast_auto_off"))


@manage.post("/alerts/<id:alert_id>/ack")
@page_requires(manager=True)
def ack_alert(alert_id: int):
    printing.ack_alert(get_store(), alert_id, g.principal.actor, get_clock().now())
    return toast("ok", *both("toast_alert_acked"))


@manage.post("/catalogue/accept")
@page_requires(manager=True)
def accept_catalogue():
    """The manager accepts the district's pending catalogue now, instead of at the roll-over."""
    base = current_app.extensions["tongban.catalogue"].base
    done = catalogue.apply_pending(get_store(), base, get_clock(), actor=g.principal.actor)
    if done["result"] == "applied":
        answer = toast("ok", *both("cat_toast_applied", version=done["version"]))
    elif done["result"] == "refused":
        answer = toast("error", *both("cat_toast_refused", version=done["version"]), 409)
    else:
        answer = toast("error", *both("cat_toast_nothing"), 409)
    # The panel again, as it is now (the toast's out-of-band part).
    ctx = {"catalogue": catalogue.status(get_store(), base)}
    panel = render_template("_manage_catalogue.html", **ctx)
    return answer[0] + f'<section class="card" id="catalogue" hx-swap-oob="outerHTML">{panel}</section>', answer[1]


def _lines_oob() -> str:
    ctx = _manage_context()
    return f'<div id="lines" hx-swap-oob="innerHTML">{render_template("_manage_lines.html", **ctx)}</div>'


@manage.post("/lines/<prefix>/close")
@page_requires(manager=True)
def close_line(prefix: str):
    """Stop issuing for a line; the kiosks show the reason typed here (docs/architecture.md §Numbering)."""
    service = get_service()
    try:
        state = service.close_line(prefix, request.form.get("reason", ""), actor=g.principal.actor)
    except errors.QueueError as exc:
        return _refusal(exc)
    return toast("ok", *both("toast_line_closed", line=state.prefix, reason=state.reason), oob=_lines_oob())


@manage.post("/lines/<prefix>/open")
@page_requires(manager=True)
def open_line(prefix: str):
    service = get_service()
    try:
        state = service.open_line(prefix, actor=g.principal.actor)
    except errors.QueueError as exc:
        return _refusal(exc)
    return toast("ok", *both("toast_line_opened", line=state.prefix), oob=_lines_oob())


# ---------- the report: a day, a week, a month or a range ----------

PERIODS = ("day", "week", "month", "range")


@dataclass(frozen=True)
class Period:
    """What ``/manage/report`` shows: ``kind`` and its first and last service days. ``anchor`` is the
    day a day, week or month was chosen by (the week or month holding it)."""

    kind: str
    first: date
    last: date
    anchor: date

    def args(self) -> dict[str, str]:
        if self.kind == "range":
            return {"period": "range", "from": self.first.isoformat(), "to": self.last.isoformat()}
        return {"period": self.kind, "day": self.anchor.isoformat()}

    def shifted(self, step: int) -> Period:
        """The period before (-1) or after (+1) this one, of the same kind and length."""
        if self.kind == "range":
            length = timedelta(days=step * ((self.last - self.first).days + 1))
            return _period("range", self.first + length, self.first + length, self.last + length)
        if self.kind == "month":
            anchor = (self.first - timedelta(days=1)) if step < 0 else (self.last + timedelta(days=1))
        else:
            anchor = self.anchor + timedelta(days=step * (7 if self.kind == "week" else 1))
        return _period(self.kind, anchor)


def _period(kind: str, anchor: date, first: date | None = None, last: date | None = None) -> Period:
    if kind == "week":  # Monday to Sunday
        first = anchor - timedelta(days=anchor.weekday())
        last = first + timedelta(days=6)
    elif kind == "month":
        first = anchor.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    elif kind == "day":
        first = last = anchor
    assert first is not None and last is not None
    return Period(kind, first, last, anchor)


def _report_period() -> Period:
    """``?period=day|week|month`` with ``day=YYYY-MM-DD`` (default today), or ``?period=range`` with
    ``from`` and ``to`` (at most reports.MAX_DAYS days). Days lie within params.FIRST_DAY..LAST_DAY."""
    kind = request.args.get("period") or "day"
    if kind not in PERIODS:
        raise params.BadValue("period", Msg("expect_period"))
    if kind == "range":
        first, last = params.arg_day("from"), params.arg_day("to")
        if last < first or (last - first).days + 1 > reports.MAX_DAYS:
            raise params.BadValue("to", Msg("expect_range", most=reports.MAX_DAYS))
        return Period("range", first, last, first)
    anchor = params.arg_day("day", default=None) or date.fromisoformat(views.service_day(get_service()))
    return _period(kind, anchor)


def _label(key: str) -> str:
    zh, en = both(key)
    return f"{zh} {en}"


def _period_report(period: Period) -> reports.DayReport:
    return reports.period_report(get_store(), get_service().config, period.first.isoformat(), period.last.isoformat())


@manage.get("/report")
@page_requires(manager=True)
def report():
    period = _report_period()
    data = _period_report(period)
    hours = data.rows("hours")
    lines = data.rows("lines")
    ratings_rows = data.rows("ratings")
    charts = {
        "hours": svg_bars(
            [h["hour"][:2] for h in hours],
            [
                (_label("chart_issued"), [h["issued"] for h in hours]),
                (_label("chart_served"), [h["served"] for h in hours]),
            ],
            title=_label("chart_hours"),
            counts=True,
        ),
        "waits": svg_bars(
            [line["prefix"] for line in lines],
            [
                (_label("chart_wait_mean"), [line["wait_mean"] for line in lines]),
                (_label("chart_wait_p90"), [line["wait_p90"] for line in lines]),
                (_label("chart_service_mean"), [line["service_mean"] for line in lines]),
            ],
            title=_label("chart_waits"),
            unit=_label("chart_minutes"),
        ),
        "ratings": svg_share(
            [(r["level"], r["count"], LEVEL_COLORS[r["value"]]) for r in ratings_rows], title=_label("chart_ratings")
        ),
    }
    trends = {}
    if len(data.days) > 1:
        days = data.rows("days")
        charts["days"] = svg_bars(
            [d["day"][5:] for d in days],
            [
                (_label("chart_issued"), [d["issued"] for d in days]),
                (_label("chart_served"), [d["served"] for d in days]),
            ],
            title=_label("chart_days"),
            counts=True,
            width=1200,
        )
        trends["overall"] = svg_trend(
            data.days,
            [(_label("chart_satisfaction"), [d["satisfaction"] for d in days])],
            title=_label("chart_trend_overall"),
        )
        for dimension in reports.DIMENSIONS:
            trends[dimension] = svg_trend(
                data.days, reports.trend_series(data, dimension), title=_label(f"chart_trend_{dimension}")
            )
    return render_template(
        "report.html",
        report=data,
        period=period,
        periods=PERIODS,
        day=period.anchor.isoformat(),
        charts=charts,
        trends=trends,
        columns=reports.COLUMNS,
        titles=reports.TABLE_TITLES,
        tables=_report_tables(data),
        cell=reports.cell,
        previous=period.shifted(-1),
        following=period.shifted(+1),
        me=person(g.principal.actor),
        levels=LEVELS,
        not_rated=NOT_RATED,
        text_keys=reports.TEXT_KEYS,
    )


def _report_tables(data: reports.DayReport) -> tuple[str, ...]:
    tables = (
        "lines",
        "matters",
        "windows",
        "clerks",
        "ratings",
        "bad_ratings",
        "transfers",
        "green",
        "hours",
        "cases",
        "appointments",
    )
    return (*tables, "days", "satisfaction_trend") if len(data.days) > 1 else tables


@manage.get("/report/<name>.csv")
@page_requires(manager=True)
def report_csv(name: str):
    if name not in reports.COLUMNS:
        abort(404)
    period = _report_period()
    data = _period_report(period)
    span = data.day if data.day == data.last else f"{data.day}_{data.last}"
    return csv_download(reports.csv_table(data, name), f"tongban-{span}-{name}.csv")


# ---------- appointments ----------


@manage.get("/appointments")
@page_requires(manager=True)
def appointments_page():
    """A day's bookings per slot: booked, checked in, no-show, cancelled, each booking masked
    (docs/appointments.md#for-the-manager). Today unless ``day`` is given."""
    service = get_service()
    today = calendar.service_day(get_clock().now(), service.hall)
    day = params.arg_day("day", None)
    day_text = day.isoformat() if day else today
    slots = appointments.day_slots(get_store(), service.config, day_text)
    totals = appointments.day_counts(get_store(), service.config, day_text)
    return render_template(
        "appointments.html",
        slots=slots,
        totals=totals,
        day=day_text,
        today=today,
        states=appointments.STATES,
        matters={m.code: m for m in service.config.matters},
        me=person(g.principal.actor),
    )
