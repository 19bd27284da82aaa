"""Proxy and multi-place cases for staff (docs/cases.md): list, new case, case page, receipt; public status.

Staff only (clerks and managers) except ``/c/<token>``, the status page behind the receipt's QR.
Each URL answers with the whole page, or with its ``_case*.html`` fragment when htmx asks
(``HX-Request``). Personal data (ID number, phone, address) is shown in full only on the case page
and the receipt, and every such showing is written to ``case_access_log``, as is each exported case.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, url_for

from ... import csvout
from ...queue import cases as domain
from ...queue import errors, idcards
from ...queue.cases import CaseService, Filters
from ...queue.store import parse_iso
from .. import params
from ..access import page_requires
from ..context import current_lang, get_accounts, get_clock, get_service, get_store
from ..errors import status_for
from ..htmx import request
from ..i18n import Msg, text
from ..qr import qr_svg
from ..shared import csv_download, person

cases = Blueprint("cases", __name__, template_folder="templates")

STEP_ORDER = ("received", "checked", "sent", "result_received", "delivered")


def _service() -> CaseService:
    return CaseService(get_store(), current_app.config["HALL"], get_clock())


def _label(pair) -> str:
    return pair[1] if current_lang() == "en" else pair[0]


@cases.app_context_processor
def case_helpers():
    """For every template: labels, and two lazy helpers the clerk and manager consoles include
    through ``_case_ticket_link.html`` and ``_case_flags.html`` (nothing runs unless a page uses them)."""
    return {"case_label": _label, "case_domain": domain, "case_link_for": case_link_for, "case_flags": case_flags}


def case_link_for(ticket) -> dict | None:
    """For a ticket on the console: where its case is, or where to open one; None for on-site matters."""
    matter_code = getattr(ticket, "matter", None) if not isinstance(ticket, dict) else ticket.get("matter")
    ticket_id = getattr(ticket, "id", None) if not isinstance(ticket, dict) else ticket.get("id")
    if ticket_id is None or not matter_code:
        return None
    try:
        matter = current_app.config["HALL"].matter(matter_code)
    except KeyError:
        return None
    if not domain.opens_case(matter):
        return None
    existing = domain.case_for_ticket(get_store(), ticket_id)
    if existing is not None:
        return {"url": url_for("cases.case_page", case_id=existing.id), "case": existing, "mode": matter.mode}
    return {"url": url_for("cases.new_case", ticket=ticket_id), "case": None, "mode": matter.mode}


def case_flags() -> list[dict]:
    """Cases near or past due, most urgent first (``domain.flagged``), with their page's URL."""
    hall = current_app.config["HALL"].hall
    return [
        {**c, "url": url_for("cases.case_page", case_id=c["id"])}
        for c in domain.flagged(get_store(), get_clock().now(), hall.tz)
    ]


@cases.app_template_filter("case_local")
def case_local(text: str | None) -> str:
    """A stored UTC time as the hall's local date and minute."""
    if not text:
        return "—"
    moment = parse_iso(text).astimezone(current_app.config["HALL"].hall.tz)
    return f"{moment:%Y-%m-%d %H:%M}"


def _fragment(full: str, part: str, status: int = 200, **context):
    template = part if request.htmx and not request.htmx.boosted else full
    if template == part and status >= 400:
        status = 200  # htmx does not swap error answers; the fragment itself shows the refusal
    return render_template(template, **context), status


def _actor() -> str:
    return g.principal.actor


def _window() -> int | None:
    return g.principal.window


def _window_reader() -> str | None:
    """The clerk's window's own ID-card reader (``window:<n>``), when the hall file gives it one."""
    number = _window()
    if number is None:
        return None
    window = next((w for w in current_app.config["HALL"].windows if w.number == number), None)
    return idcards.window_reader(number) if window is not None and window.idcard else None


# ---------- the list and the export ----------


def _filters() -> Filters:
    args = request.args
    day_from, day_to = params.arg_day("from", default=None), params.arg_day("to", default=None)
    return Filters(
        q=args.get("q", "").strip()[:40],
        state=args.get("state", ""),
        due=args.get("due", ""),
        matter=args.get("matter", ""),
        department=args.get("department", ""),
        day_from=day_from.isoformat() if day_from else "",
        day_to=day_to.isoformat() if day_to else "",
        page=params.arg_page(),
    )


def _case_matters():
    return [m for m in current_app.config["HALL"].matters if domain.opens_case(m)]


@cases.get("/cases")
@page_requires(staff=True)
def case_list():
    f = _filters()
    rows, total = domain.search(get_store(), f)
    pages = max(1, -(-total // domain.PAGE_SIZE))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return _fragment(
        "case_list.html",
        "_case_list.html",
        filters=f,
        rows=rows,
        total=total,
        pages=pages,
        args=args,
        matters=_case_matters(),
        today=_service().today().isoformat(),
        departments=current_app.config["HALL"].departments,
        hall_names=_hall_names(),
    )


#: The export's columns, titled by the keys case_csv_<column> (in Chinese: the file goes to offices).
CSV_COLUMNS = (
    "number",
    "mode",
    "matter",
    "department",
    "state",
    "opened_day",
    "due_day",
    "due_flag",
    "applicant",
    "id_number",
    "phone",
    "province",
    "handling_dept",
    "waybill_out",
    "sent_on",
    "result",
    "returned_on",
    "delivered_on",
    "window",
    "clerk",
)


@cases.get("/cases/export.csv")
@page_requires(staff=True)
def export_csv():
    """The list's filters, every match, personal data masked; each exported case is logged."""
    f = _filters()
    rows, _total = domain.search(get_store(), f, limit=None)
    hall = current_app.config["HALL"]

    def values(c):
        try:
            dept = hall.department(c.department).name_zh
        except KeyError:
            dept = c.department
        return (
            c.number,
            domain.MODE_TEXT[c.mode][0],
            c.matter_zh,
            dept,
            domain.STATE_TEXT[c.state][0],
            c.opened_day,
            c.due_day,
            text(f"case_csv_due_{c.due_flag}") if c.due_flag else "",
            c.masked["name"],
            c.masked["id_number"],
            c.masked["phone"],
            domain.PROVINCES.get(c.province or "", ("", ""))[0],
            c.handling_dept,
            c.waybill_out,
            c.sent_on,
            domain.RESULTS.get(c.result or "", ("", ""))[0],
            c.returned_on,
            c.delivered_on,
            c.window,
            c.clerk,
        )

    body = csvout.document([text(f"case_csv_{column}") for column in CSV_COLUMNS], (values(c) for c in rows))
    now = get_clock().now()
    detail = {"filters": {k: v for k, v in request.args.items() if v}, "count": len(rows)}
    domain.log_access(get_store(), [c.id for c in rows], "export", _actor(), now, detail)
    # csvout: a BOM for Excel as used in halls, and cells a spreadsheet would run as formulas neutralised.
    return csv_download(body, f"cases-{_service().today().isoformat()}.csv")


# ---------- a new case ----------


def _ticket_context(ticket_id: int | None):
    if ticket_id is None:
        return None
    try:
        return get_service().ticket(ticket_id)
    except errors.UnknownTicket:
        return None


@cases.route("/cases/new", methods=["GET", "POST"])
@page_requires(staff=True)
def new_case():
    """Opened from the clerk console as /cases/new?ticket=<id>; without a ticket, pick the matter."""
    source = request.form if request.method == "POST" else request.args
    ticket_text = source.get("ticket", "")
    ticket_id = params.whole(ticket_text, "ticket") if ticket_text.strip() else None
    ticket = _ticket_context(ticket_id)
    matter_code = source.get("matter") or (ticket.matter if ticket else None)
    hall = current_app.config["HALL"]
    matter = None
    if matter_code:
        try:
            matter = hall.matter(matter_code)
        except KeyError:
            matter = None
    refusal: errors.QueueError | None = None
    problems: dict = {}
    status = 200
    if ticket_text and ticket is None:
        refusal = errors.UnknownTicket("err_case_no_ticket", {"ticket": ticket_text})
    elif ticket is not None:
        existing = domain.case_for_ticket(get_store(), ticket.id)
        if existing is not None:
            return redirect(url_for("cases.case_page", case_id=existing.id))
        if ticket.state not in ("serving", "suspended", "done"):
            refusal = domain.TicketNotServed("err_case_ticket_not_served_yet", {"number": ticket.number})
        elif not domain.opens_case(matter):
            name = matter.name_zh if matter else Msg("err_case_this_ticket")
            refusal = domain.NotACaseMatter("err_case_not_a_case_matter", {"name": name})
    reader = _window_reader()
    token = (request.form.get("card") or "").strip() if reader else ""
    # "read_card" only asks the form again, to show a card just laid on the window's reader
    if request.method == "POST" and refusal is None and not request.form.get("read_card"):
        try:
            if token:
                case = _service().open_with_card(
                    reader=reader or "",
                    token=token[:64],
                    ticket_id=ticket_id,
                    matter=matter_code,
                    window=_window(),
                    actor=_actor(),
                    form=request.form,
                )
            else:
                case = _service().open(
                    ticket_id=ticket_id, matter=matter_code, window=_window(), actor=_actor(), form=request.form
                )
        except domain.InvalidInput as exc:
            problems, status = exc.problems, 422
        except (domain.CaseError, errors.QueueError) as exc:
            refusal = exc
        else:
            target = url_for("cases.case_page", case_id=case.id, opened=1)
            if request.htmx:
                return "", 204, {"HX-Redirect": target}
            return redirect(target, 303)
    if refusal is not None:
        status = status_for(refusal)
    return _fragment(
        "case_new.html",
        "_case_new_form.html",
        status,
        ticket=ticket,
        matter=matter,
        matters=_case_matters(),
        refusal=refusal,
        problems=problems,
        form=request.form if request.method == "POST" else {},
        provinces=domain.PROVINCES,
        has_reader=reader is not None,
        window_card=idcards.waiting_card(get_store(), reader, get_clock().now()) if reader else None,
    )


# ---------- one case ----------


def _render_case(
    case_id: int,
    *,
    status: int = 200,
    problems=None,
    refusal=None,
    open_form: str | None = None,
    form=None,
    log: bool = True,
):
    store = get_store()
    case = domain.get(store, case_id)
    if log:
        domain.log_access(store, [case.id], "view", _actor(), get_clock().now())
    service = _service()
    hall = current_app.config["HALL"]
    try:
        window_cfg = hall.window(case.window) if case.window else None
    except KeyError:
        window_cfg = None
    evts = domain.events(store, case.id)
    names = {a.username: a.name for a in get_accounts().list()}
    reached = {e["to_state"]: e for e in evts if e["to_state"] and e["action"] not in ("flag", "purge", "edit")}
    return _fragment(
        "case.html",
        "_case.html",
        status,
        case=case,
        events=evts,
        access=domain.access_log(store, case.id) if g.principal.is_manager else None,
        problems=problems or {},
        refusal=refusal,
        open_form=open_form,
        form=form or {},
        provinces=domain.PROVINCES,
        window_cfg=window_cfg,
        today=service.today().isoformat(),
        covered=service.calendar.covers(date.fromisoformat(case.due_day)),
        step_order=STEP_ORDER,
        reached=reached,
        opened=request.args.get("opened") == "1",
        names=names,
        handoff_halls=_handoff_halls(),
        hall_names=_hall_names(),
    )


def _hall_names() -> dict[str, str]:
    """The district's halls by id, named as its windows directory names them (queue/catalogue.py)."""
    return {w.hall_id: w.hall for w in current_app.config["HALL"].district_windows if w.hall_id}


def _handoff_halls() -> list[tuple[str, str]]:
    """The halls a case can be handed to: every other hall of the district's directory."""
    own = current_app.config["HALL"].hall.id
    return sorted((hid, name) for hid, name in _hall_names().items() if hid != own)


@cases.post("/cases/<id:case_id>/handoff")
@page_requires(staff=True)
def hand_off(case_id: int):
    """转交其他大厅: one domain call; the devices process takes it to the district later."""
    try:
        _service().hand_off(
            case_id,
            to_hall=request.form.get("to_hall", ""),
            to_window=request.form.get("to_window", ""),
            actor=_actor(),
            window=_window(),
        )
    except domain.UnknownCase:
        abort(404)
    except domain.InvalidInput as exc:
        return _render_case(case_id, status=422, problems=exc.problems, open_form="handoff", form=request.form)
    except (domain.CaseError, errors.QueueError) as exc:
        return _render_case(case_id, status=status_for(exc), refusal=exc)
    if request.htmx:
        return _render_case(case_id)
    return redirect(url_for("cases.case_page", case_id=case_id), 303)


@cases.get("/cases/<id:case_id>")
@page_requires(staff=True)
def case_page(case_id: int):
    try:
        return _render_case(case_id)
    except domain.UnknownCase:
        abort(404)


@cases.post("/cases/<id:case_id>/<action>")
@page_requires(staff=True)
def case_action(case_id: int, action: str):
    if action not in domain.ACTIONS:
        abort(404)
    try:
        _service().act(case_id, action, actor=_actor(), window=_window(), form=request.form)
    except domain.UnknownCase:
        abort(404)
    except domain.InvalidInput as exc:
        return _render_case(case_id, status=422, problems=exc.problems, open_form=action, form=request.form)
    except (domain.CaseError, errors.QueueError) as exc:
        return _render_case(case_id, status=status_for(exc), refusal=exc)
    if request.htmx:
        return _render_case(case_id)
    return redirect(url_for("cases.case_page", case_id=case_id), 303)


@cases.get("/cases/<id:case_id>/receipt")
@page_requires(staff=True)
def receipt(case_id: int):
    """受理回执 for an A4 printer (print CSS); the QR opens the public status page."""
    store = get_store()
    try:
        case = domain.get(store, case_id)
    except domain.UnknownCase:
        abort(404)
    domain.log_access(store, [case.id], "receipt", _actor(), get_clock().now())
    hall = current_app.config["HALL"]
    try:
        window_cfg = hall.window(case.window) if case.window else None
    except KeyError:
        window_cfg = None
    clerk = person(case.clerk)
    return render_template(
        "case_receipt.html",
        case=case,
        window_cfg=window_cfg,
        clerk=clerk,
        status_url=_status_url(case.token),
        qr_svg=qr_svg(_status_url(case.token)),
        department=_department_name(case.department),
    )


def _department_name(code: str) -> tuple[str, str]:
    try:
        dept = current_app.config["HALL"].department(code)
        return dept.name_zh, dept.name_en
    except KeyError:
        return code, code


# ---------- public status ----------


def _status_url(token: str) -> str:
    base = current_app.config["HALL"].hall.public_url or request.url_root
    return base.rstrip("/") + url_for("cases.status", token=token)


@cases.get("/c/<token>")
def status(token: str):
    """State and dates only, for the citizen's phone (QR on the receipt); no names, numbers or places."""
    try:
        case = domain.by_token(get_store(), token)
    except domain.UnknownCase:
        return render_template("case_status.html", case=None), 404
    service = _service()
    evts = domain.events(get_store(), case.id)
    return render_template(
        "case_status.html",
        case=case,
        steps=_public_steps(case, evts),
        today=service.today().isoformat(),
        hall_names=_hall_names(),
    )


def _public_steps(case, evts) -> list[dict]:
    """The timeline the public page shows: each step's first date, the loop marked, nothing else."""
    out = []
    for e in evts:
        if e["action"] in ("flag", "purge", "edit") or (e["action"] == "check" and e["to_state"] == "received"):
            continue
        out.append({"state": e["to_state"], "day": e["day"], "action": e["action"]})
    return out


@cases.get("/c/<token>/qr.svg")
def status_qr(token: str):
    try:
        case = domain.by_token(get_store(), token)
    except domain.UnknownCase:
        abort(404)
    return Response(qr_svg(_status_url(case.token), css_class="", size="34mm"), mimetype="image/svg+xml")
