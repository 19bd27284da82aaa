"""Who is asking: a staff session, an enrolled terminal, or the public (docs/architecture.md §Web).

Terminals (kiosks, rating pads, display screens) are refused everywhere except the routes that name
their kind; staff routes check the role and, for clerks, the window they signed in at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps

from flask import g, jsonify

from ..queue.accounts import AuthError, Session, Terminal
from .errors import refusal, status_for
from .htmx import request


@dataclass(frozen=True)
class Principal:
    session: Session | None = None
    terminal: Terminal | None = None
    # The token it was let in with, to look it up again (live streams: still_signed_in).
    token: str | None = field(default=None, repr=False, compare=False)

    @property
    def role(self) -> str | None:
        return self.session.account.role if self.session else None

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    @property
    def is_staff(self) -> bool:
        return self.session is not None

    @property
    def window(self) -> int | None:
        if self.session:
            return self.session.window
        return self.terminal.window if self.terminal else None

    @property
    def clerk_window(self) -> int | None:
        """The window a clerk acts for, which the domain holds their actions to (its tickets, the lines
        it is able to serve); None for a manager, who is not limited (docs/architecture.md §Ticket lifecycle)."""
        return self.session.window if self.session is not None and self.role == "clerk" else None

    @property
    def actor(self) -> str:
        if self.session:
            return self.session.account.username
        if self.terminal:
            return f"terminal:{self.terminal.id}"
        return "public"

    def may_act_for_window(self, number: int) -> bool:
        return self.is_manager or (self.session is not None and self.role == "clerk" and self.session.window == number)


def bearer_principal() -> Principal | None:
    from .context import get_accounts

    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("bad_authorization")
    accounts = get_accounts()
    if token.startswith("t_"):
        return Principal(terminal=accounts.terminal(token), token=token)
    return Principal(session=accounts.session(token), token=token)


def still_signed_in(principal: Principal) -> bool:
    """Is the session or terminal token a request was let in with still good (not ended, expired,
    disabled or revoked)? Live streams ask on every change and keep-alive: one indexed lookup."""
    from .context import get_accounts

    if principal.token is None:
        return True
    accounts = get_accounts()
    try:
        if principal.terminal is not None:
            accounts.terminal(principal.token)
        else:
            accounts.session(principal.token)
    except AuthError:
        return False
    return True


def requires(*, staff: bool = False, manager: bool = False, terminals: tuple[str, ...] = ()) -> Callable:
    """Allow staff (any role, or managers only) and/or the named terminal kinds; refuse the rest."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            try:
                principal = g.principal = bearer_principal()
            except AuthError as exc:
                return jsonify(exc.as_dict()), status_for(exc)
            if principal is None:
                return refusal("unauthenticated")
            allowed = (principal.terminal is not None and principal.terminal.kind in terminals) or (
                principal.is_staff and (principal.is_manager or (staff and not manager))
            )
            if not allowed:
                return refusal("forbidden")
            return view(*args, **kwargs)

        return wrapper

    return decorate


# ---------- pages (cookies) ----------

TERMINAL_COOKIE = "tongban_terminal"
TERMINAL_COOKIE_DAYS = 3650  # an enrolled kiosk stays enrolled until the manager revokes it


def cookie_principals() -> list[Principal]:
    """The staff session (signed Flask session) and/or the enrolled terminal of this browser."""
    from flask import session as web_session

    from .context import get_accounts

    found = []
    accounts = get_accounts()
    staff_token = web_session.get("staff_token")
    if staff_token:
        try:
            found.append(Principal(session=accounts.session(staff_token), token=staff_token))
        except AuthError:
            web_session.pop("staff_token", None)
    terminal_token = request.cookies.get(TERMINAL_COOKIE)
    if terminal_token:
        try:
            found.append(Principal(terminal=accounts.terminal(terminal_token), token=terminal_token))
        except AuthError:
            pass
    return found


def _allowed(principal: Principal, staff: bool, manager: bool, terminals: tuple[str, ...]) -> bool:
    if principal.terminal is not None:
        return principal.terminal.kind in terminals
    return principal.is_manager or (staff and not manager and principal.is_staff)


def page_requires(*, staff: bool = False, manager: bool = False, terminals: tuple[str, ...] = ()) -> Callable:
    """Like ``requires`` for HTML pages: unauthenticated browsers go to the login page."""
    from flask import redirect, render_template, url_for

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principals = cookie_principals()
            for principal in principals:
                if _allowed(principal, staff, manager, terminals):
                    g.principal = principal
                    return view(*args, **kwargs)
            if not principals:
                target = url_for("pages.login", next=request.full_path.rstrip("?"))
                if request.htmx:
                    return "", 401, {"HX-Redirect": target}
                return redirect(target)
            return render_template("forbidden.html"), 403

        return wrapper

    return decorate
