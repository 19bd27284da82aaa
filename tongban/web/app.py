"""The web process: ``create_app(config)`` (docs/architecture.md §Processes, §Web).

Requests only read and write the database through the store API; they never touch a device and run
no scheduler. Each request borrows a connection from the StorePool and hands it back at the end
(docs/architecture.md §Storage).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import time
from pathlib import Path
from time import monotonic
from typing import Any

from flask import Flask, g, jsonify
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from werkzeug.middleware.proxy_fix import ProxyFix

from .. import __version__
from ..config import END_OF_DAY, WEEKDAYS, HallConfig, Period, load_hall_config
from ..ops.damage import damaged
from ..queue.catalogue import CatalogueOverlay
from ..queue.clock import SystemClock
from ..queue.search import MatterSearch
from ..queue.service import HallService
from ..queue.store import Store, StoreError, StorePool
from .access import still_signed_in
from .context import current_lang, get_store, release_store
from .errors import install as install_error_answers
from .errors import refusal
from .i18n import text
from .limits import install_limits
from .live import Broker
from .params import IdConverter

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

STATIC = Path(__file__).resolve().parent.parent / "static"

csrf = CSRFProtect()
htmx = Htmx()


def always_open(config: HallConfig) -> HallConfig:
    """The demo hall accepts tickets at any hour, so a demo run at night still shows something."""
    whole_day = (Period(time(0, 0), END_OF_DAY),)
    # Each line's last issue time too: otherwise every line reads "closed for today" in the evening.
    return replace(
        config,
        hall=replace(config.hall, hours={day: whole_day for day in WEEKDAYS}),
        lines=tuple(replace(line, last_issue=None) for line in config.lines),
    )


def create_app(config: Mapping[str, Any]) -> Flask:
    """Build the web app.

    ``config`` keys: ``HALL`` (a HallConfig or a path to a hall TOML file), ``DATABASE`` (path),
    optional ``CLOCK`` (anything with ``now()``), ``SECRET_KEY``, ``TESTING``, ``ALWAYS_OPEN``,
    ``BEHIND_PROXY`` (nginx in front: the client is the last X-Forwarded-For address nginx added).
    """
    app = Flask(__name__, static_folder=str(STATIC), template_folder="templates")
    app.config.update(config)
    hall = app.config["HALL"]
    if not isinstance(hall, HallConfig):
        hall = load_hall_config(hall)
    if app.config.get("ALWAYS_OPEN"):
        hall = always_open(hall)
    app.config["HALL"] = hall
    app.config.setdefault("CLOCK", SystemClock())
    database = str(Path(app.config["DATABASE"]))
    app.config["DATABASE"] = database

    # Start-up checks (docs/architecture.md §Storage): a damaged file stops the web here rather than serving from it.
    marked = damaged(database)
    if marked:
        raise StoreError(f"{database} is marked damaged ({database}.damaged):\n{marked}")
    store = Store(database, backup_dir=hall.operations.backup_path(database))
    try:
        store.quick_check()
        HallService(store, hall, app.config["CLOCK"]).sync_with_config()
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = store.setting("secret_key", lambda: secrets.token_hex(32))
    finally:
        store.close()
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("JSON_AS_ASCII", False)
    assert isinstance(app.json, DefaultJSONProvider)  # Flask's own; we set no other provider
    app.json.ensure_ascii = False
    install_limits(app)

    if app.config.get("BEHIND_PROXY"):
        # Behind nginx every request comes from the socket; the sign-in limits count per client
        # address, so trust the one address nginx appends (x_for=1: never what a client sent).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # type: ignore[method-assign]  # as Flask documents it
    csrf.init_app(app)
    htmx.init_app(app)
    app.extensions["tongban.stores"] = StorePool(database)
    app.extensions["tongban.broker"] = Broker(
        database, release_store=release_store, signed_in=still_signed_in, now=app.config["CLOCK"].now
    )
    # One search for the kiosk, /info and the API, built once from the hall file (docs/kiosk.md).
    app.extensions["tongban.matter_search"] = MatterSearch.for_config(hall)
    _refuse_when_damaged(app, database)
    _follow_catalogue(app, hall)
    # Ids in paths are <id:…>, and every error under /api is JSON (web/params.py, web/errors.py).
    app.url_map.converters["id"] = IdConverter
    install_error_answers(app)

    from .api.routes import api
    from .signin import pages

    # The JSON API authenticates with bearer tokens only (never cookies), so a forged cross-site
    # request carries no credentials and needs no CSRF token.
    csrf.exempt(api)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    for blueprint in _role_blueprints():
        app.register_blueprint(blueprint)

    @app.context_processor
    def page_globals():
        lang = current_lang()
        return {
            "lang": lang,
            "hall": hall.hall,
            "hall_config": app.config["HALL"],  # the effective one: the district's catalogue may have changed it
            "t": lambda key, **values: text(key, lang, **values),
            "t_zh": lambda key, **values: text(key, "zh", **values),
            "t_en": lambda key, **values: text(key, "en", **values),
        }

    @app.after_request
    def security_headers(response):
        # No inline scripts and nothing from another host: halls run offline (docs/architecture.md §Web).
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.teardown_appcontext(lambda _exc: release_store())

    @app.after_request
    def terminal_seen(response):
        # A kiosk away from its home screen holds no stream, but a citizen using it makes requests:
        # those say it is alive too (the manager console's terminals, web/live.py Broker.presence).
        terminal = getattr(g.get("principal"), "terminal", None)
        if terminal is not None:
            app.extensions["tongban.broker"].terminal_seen(terminal.id)
        return response

    @app.get("/healthz")
    def healthz():
        try:
            get_store().ping()
            db = "ok"
        except Exception as exc:  # noqa: BLE001 - health must answer, whatever the database says
            db = f"error: {exc}"
        return jsonify(
            {"status": "ok" if db == "ok" else "degraded", "db": db, "version": __version__, "hall": hall.hall.id}
        ), (200 if db == "ok" else 503)

    return app


def _refuse_when_damaged(app: Flask, database: str) -> None:
    """A failed nightly integrity_check marks the file damaged (tongban/ops/damage.py): from then on
    every request is answered 503 with what to do, instead of reading or writing a damaged file."""
    seen: dict[str, Any] = {"at": -10.0, "message": None}

    @app.before_request
    def damaged_database():
        now = monotonic()
        if now - seen["at"] >= 1.0:  # one stat a second, whatever the request rate
            seen["at"], seen["message"] = now, damaged(database)
        if seen["message"]:
            return refusal("database_damaged")
        return None


def _follow_catalogue(app: Flask, base: HallConfig) -> None:
    """The district's applied catalogue overlays the hall file (queue/catalogue.py). Each request
    reads its version (one small row); when the manager accepted a new one, or the devices process
    applied it at the roll-over, the next request here serves the new matters, with no restart."""
    overlay = CatalogueOverlay(base)
    app.extensions["tongban.catalogue"] = overlay

    @app.before_request
    def current_catalogue():
        config = overlay.current(get_store())
        if config is not app.config["HALL"]:
            app.extensions["tongban.matter_search"] = MatterSearch.for_config(config)
            app.config["HALL"] = config


def _role_blueprints():
    """One blueprint per role (docs/architecture.md §Web)."""
    from .cases.routes import cases
    from .display.routes import display
    from .info.routes import info
    from .kiosk.routes import kiosk
    from .manage.routes import manage
    from .window.routes import window

    return [kiosk, window, manage, display, info, cases]
