"""Sign-in for staff, enrolment for terminals, and the choices every page shares (language, elder mode)."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for

from ..queue.accounts import AuthError
from ..queue.errors import UnknownWindow
from . import params
from .access import TERMINAL_COOKIE, TERMINAL_COOKIE_DAYS, cookie_principals
from .context import client_address, get_accounts, get_service
from .i18n import LANGS

pages = Blueprint("pages", __name__)


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths, so the login page cannot be used to bounce someone elsewhere.
    if not target:
        return None
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc and target.startswith("/") else None


def terminal_home(terminal) -> str:
    if terminal.kind == "kiosk":
        return url_for("kiosk.home", kiosk_id=terminal.id)
    if terminal.kind == "pad":
        return url_for("window.pad", number=terminal.window)
    return url_for("display.hall")


def staff_home(session_info) -> str:
    if session_info.account.role == "manager":
        return url_for("manage.home")
    return url_for("window.console", number=session_info.window)


@pages.get("/")
def index():
    for principal in cookie_principals():
        if principal.session:
            return redirect(staff_home(principal.session))
        if principal.terminal:
            return redirect(terminal_home(principal.terminal))
    return redirect(url_for("info.home"))


@pages.get("/enrol")
def enrol():
    """A terminal opens this once with its token; the token then lives in a long-lived cookie."""
    token = request.args.get("token", "")
    try:
        terminal = get_accounts().terminal(token)
    except AuthError:
        return render_template("enrol.html", ok=False), 403
    response = redirect(terminal_home(terminal))
    response.set_cookie(TERMINAL_COOKIE, token, max_age=TERMINAL_COOKIE_DAYS * 86400, httponly=True, samesite="Strict")
    return response


@pages.route("/login", methods=["GET", "POST"])
def login():
    windows = [w.number for w in get_service().windows()]
    error = None
    username, window = "", None
    changing = False
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        window = params.form_int("window", default=None)
        # An account still on a demo or initial password signs in only by setting its own.
        new_password = request.form.get("new_password") or None
        changing = new_password is not None
        try:
            if new_password is not None and new_password != request.form.get("new_password_again"):
                raise AuthError("new_password_mismatch")
            if window is not None:
                get_service().window(window)
            token, info = get_accounts().login(
                username, password, window=window, new_password=new_password, source=client_address()
            )
        except (AuthError, UnknownWindow) as exc:
            error = exc
            changing = changing or getattr(exc, "code", None) == "password_change_required"
        else:
            session.clear()
            session["staff_token"] = token
            session.permanent = False
            return redirect(_safe_next(request.args.get("next")) or staff_home(info))
    # One status for every refusal, so the page says no more than the API (docs/architecture.md §Web);
    # an address refused for too many failures is told to wait.
    status = 200 if error is None else 429 if getattr(error, "code", None) == "login_rate_limited" else 401
    return render_template(
        "login.html", windows=windows, error=error, changing=changing, username=username, window=window
    ), status


@pages.post("/logout")
def logout():
    token = session.pop("staff_token", None)
    if token:
        get_accounts().logout(token)
    return redirect(url_for("pages.login"))


@pages.get("/lang/<lang>")
def set_lang(lang: str):
    if lang not in LANGS:
        abort(404)
    response = redirect(_safe_next(request.args.get("next")) or url_for("pages.index"))
    response.set_cookie("lang", lang, max_age=365 * 86400, samesite="Lax")
    return response


def principal():
    return g.get("principal")
