"""Request-scoped helpers: the store, service, accounts, clock and broker of the request being
served, and the language it asked for. Blueprints import these from here, never from the app factory
(docs/architecture.md, "Web")."""

from __future__ import annotations

from flask import current_app, g, request

from ..queue.accounts import Accounts
from ..queue.clock import Clock
from ..queue.search import MatterSearch
from ..queue.service import HallService
from ..queue.store import Store
from .i18n import LANGS
from .live import Broker


def client_address() -> str:
    """Where the request comes from, for the sign-in limits (docs/architecture.md §Web): the peer's
    address as the WSGI server saw it. Behind a reverse proxy that is the proxy, unless the app is
    configured to trust its forwarding headers; this is the one place that reads it."""
    return request.remote_addr or "-"


def current_lang() -> str:
    lang = request.args.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in LANGS else "zh"


def disk_warnings() -> list[dict]:
    """Free-space problems for the manager console: a list (empty when all is well) of dicts with
    ``what`` ("database"/"backups"), ``path``, ``free_mb``, ``warn_mb``, ``message_zh``, ``message_en``.
    Call inside a request; thresholds come from the hall file's ``[operations]``."""
    from ..ops.disk import disk_warnings as check

    ops = current_app.config["HALL"].operations
    database = current_app.config["DATABASE"]
    return check(database, ops.backup_path(database), ops.disk_warn_mb)


def get_broker() -> Broker:
    return current_app.extensions["tongban.broker"]


def get_store() -> Store:
    if "store" not in g:
        g.store = current_app.extensions["tongban.stores"].acquire()
    return g.store


def release_store() -> None:
    """Hand this request's connection back (end of a request, or a live stream between renders)."""
    borrowed = g.pop("store", None)
    if borrowed is not None:
        current_app.extensions["tongban.stores"].release(borrowed)


def get_search() -> MatterSearch:
    """The hall's matter search (queue/search.py), built when the app was."""
    return current_app.extensions["tongban.matter_search"]


def get_service() -> HallService:
    return HallService(get_store(), current_app.config["HALL"], current_app.config["CLOCK"])


def get_accounts() -> Accounts:
    # Demo passwords only sign in under `tongban demo` (--always-open); anywhere else they must be changed.
    demo = current_app.config.get("DEMO", bool(current_app.config.get("ALWAYS_OPEN")))
    return Accounts(get_store(), current_app.config["CLOCK"], allow_demo_passwords=demo)


def get_clock() -> Clock:
    return current_app.config["CLOCK"]
