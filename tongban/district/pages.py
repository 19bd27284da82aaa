"""The district staff's pages (docs/district.md §Pages): sign-in, live, reports (+ CSV), cases.

Routes only translate HTTP: what they show comes from ``reports`` and ``accounts``/``web_sessions``,
each request in one transaction on a pooled connection (tongban/district/app.py). The look is the
hall staff pages' (static/css/staff.css), Chinese first and English under it, and the same rules:
no inline scripts (CSP), vendored htmx only, CSRF tokens on every form.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from .. import csvout
from ..queue.cases import STATE_TEXT, STATES
from ..texts import text
from . import accounts, reports, web_sessions
from .context import POOL_KEY, clock, connection

STATIC = Path(__file__).resolve().parent.parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
#: How often the live page asks for fresh figures (seconds).
LIVE_REFRESH_S = 5
SESSION_KEY = "district_token"
csrf = CSRFProtect()

bp = Blueprint(
    "district",
    __name__,
    url_prefix="/district",
    template_folder="templates",
    static_folder=str(STATIC),
    static_url_path="/static",
)


def register(app: Flask) -> None:
    if not app.config.get("SECRET_KEY"):
        # Shared by every instance through the database, so any of them reads the others' cookies.
        with app.extensions[POOL_KEY].connection() as conn:
            app.config["SECRET_KEY"] = web_sessions.secret_key(conn)
    app.config.setdefault("SESSION_COOKIE_NAME", "district_session")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    # CSRF on these pages' forms only: the halls' JSON API next to them carries bearer tokens, never
    # cookies, so a forged cross-site request has no credentials there (as on the hall).
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)
    app.register_blueprint(bp)


# ---------- every request: who is signed in, CSRF, headers ----------


def _safe_next(target: str | None) -> str | None:
    # Only paths of this site, so the sign-in page cannot bounce anyone elsewhere.
    if not target:
        return None
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc and target.startswith("/district/") else None


@bp.before_request
def signed_in_and_csrf():
    if request.method == "POST":
        try:
            csrf.protect()
        except CSRFError:
            return _refused("csrf", 400)
    if request.endpoint in ("district.login", "district.static"):
        return None
    with connection() as conn:
        g.district_user = web_sessions.user(conn, session.get(SESSION_KEY), clock=clock())
    if g.district_user is None:
        target = url_for("district.login", next=request.full_path.rstrip("?"))
        if request.headers.get("HX-Request"):
            # htmx would swap the sign-in page into the live table: have it load the page instead.
            return Response(status=401, headers={"HX-Redirect": target})
        return redirect(target)
    return None


@bp.after_request
def headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "district.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_context_processor
def page_globals() -> dict[str, Any]:
    return {
        "t_zh": lambda key, **values: text(key, "zh", **values),
        "t_en": lambda key, **values: text(key, "en", **values),
        "csrf_token": generate_csrf,
        "district_user": g.get("district_user"),
    }


def _refused(code: str, status: int):
    return render_template("district/refused.html", code=code), status


# ---------- sign-in ----------


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:100]
        # The refusal is caught inside the transaction, so the failure count it wrote is kept.
        with connection() as conn:
            try:
                account = accounts.verify(conn, username, request.form.get("password", ""), clock=clock())
            except accounts.AccountError as exc:
                error = exc
            else:
                token = web_sessions.start(conn, account["username"], clock=clock())
        if error is None:
            session.clear()
            session[SESSION_KEY] = token
            return redirect(_safe_next(request.args.get("next")) or url_for("district.live"))
    return render_template("district/login.html", error=error, username=username), (401 if error else 200)


@bp.post("/logout")
def logout():
    with connection() as conn:
        web_sessions.end(conn, session.pop(SESSION_KEY, None))
    session.clear()
    return redirect(url_for("district.login"))


# ---------- live ----------


def _live_context() -> dict[str, Any]:
    now: datetime = clock().now()
    with connection() as conn:
        halls = reports.live(conn, now=now)
        alerts = reports.open_alerts(conn)
    return {"halls": halls, "alerts": alerts, "now": now, "refresh_s": LIVE_REFRESH_S}


@bp.get("/")
def live():
    return render_template("district/live.html", **_live_context())


@bp.get("/live")
def live_part():
    """The live table alone: what the page's htmx asks for every few seconds."""
    return render_template("district/_live.html", **_live_context())


# ---------- reports ----------


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "—" if key != "reasons" else ""
    if key == "satisfaction":
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _csv_value(key: str, value: Any) -> Any:
    # Numbers stay numbers a spreadsheet can sum (one decimal, as on screen); a share stays a percentage.
    if value is None or key == "satisfaction":
        return None if value is None else _fmt(key, value)
    return round(value, 1) if isinstance(value, float) else value


@bp.get("/reports")
def report_page():
    args = request.args
    by = args.get("by") or "hall"
    today = clock().now().astimezone(reports.DISTRICT_TZ).date()
    form = {
        "period": args.get("period", ""),
        "day": args.get("day", ""),
        "from": args.get("from", ""),
        "to": args.get("to", ""),
        "by": by,
    }
    try:
        period = reports.parse_period(form["period"], form["day"], form["from"], form["to"], today=today)
        # The roll-ups' rebuild in its own short transaction: its lock is not held while the report reads.
        with connection() as conn:
            reports.refresh_rollups(conn)
        with connection() as conn:
            report = reports.period_report(conn, period, by, refresh=False)
    except reports.ReportError as exc:
        if args.get("format") == "csv":
            return Response(
                csvout.document(["error", "field", "message_zh", "message_en"], [list(exc.as_dict().values())]),
                status=400,
                mimetype=csvout.MEDIA_TYPE,
            )
        return render_template(
            "district/reports.html", form=form, error=exc, report=None, columns=reports.REPORT_COLUMNS, fmt=_fmt
        ), 400
    if args.get("format") == "csv":
        return _report_csv(report)
    form.update({"from": period.first.isoformat(), "to": period.last.isoformat()})
    return render_template(
        "district/reports.html", form=form, error=None, report=report, columns=reports.REPORT_COLUMNS, fmt=_fmt
    )


@bp.get("/reports.csv")
def report_csv():
    args: dict[str, Any] = {**request.args.to_dict(), "format": "csv"}
    return redirect(url_for("district.report_page", **args))


def _report_csv(report: reports.PeriodReport) -> Response:
    columns = reports.REPORT_COLUMNS
    header = [f"{text(title, 'zh')} / {text(title, 'en')}" for _key, title in columns]
    header.insert(1, f"{text('dw_col_name_en', 'zh')} / {text('dw_col_name_en', 'en')}")

    def line(row: dict[str, Any]) -> list[Any]:
        values = [_csv_value(key, row.get(key)) for key, _title in columns]
        values.insert(1, row.get("name_en"))
        return values

    body = csvout.document(header, [*(line(r) for r in report.rows), line(report.totals)])
    name = f"district-{report.by}-{report.period.first}-{report.period.last}.csv"
    return Response(body, mimetype=csvout.MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---------- cases ----------


@bp.get("/cases")
def cases_page():
    state = request.args.get("state", "")
    overdue = request.args.get("overdue", "") in ("1", "on", "true")
    hall = request.args.get("hall", "")[:100]
    due_by = request.args.get("due_by", "")[:40]
    today = clock().now().astimezone(reports.DISTRICT_TZ).date()
    error: reports.ReportError | None = None
    try:
        with connection() as conn:
            found = reports.cases(conn, today=today, state=state, overdue=overdue, hall=hall, due_by=due_by)
    except reports.ReportError as exc:
        found, error = {"counts": {}, "cases": [], "more": False}, exc
    return render_template(
        "district/cases.html",
        found=found,
        error=error,
        state=state,
        overdue=overdue,
        hall=hall,
        due_by=due_by,
        states=STATES,
        state_text=STATE_TEXT,
        today=today,
    ), (400 if error else 200)
