"""The district web service: ``create_district_app(url)`` (docs/district.md).

No state lives in the process: every request borrows a PostgreSQL connection from the pool, and all
that a page or an answer needs is in the database. So any number of instances can stand behind one
front (docs/district.md §Growing).
"""

from __future__ import annotations

from flask import Flask, jsonify
from psycopg_pool import ConnectionPool

from ..queue.clock import Clock, SystemClock
from ..texts import both
from . import api, appointments, catalogue, db, handoffs, pages
from .context import CLOCK_KEY, POOL_KEY


def create_district_app(
    url: str, *, pool: ConnectionPool | None = None, clock: Clock | None = None, pool_size: int = 8
) -> Flask:
    app = Flask(__name__, template_folder="templates", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.extensions[POOL_KEY] = pool or db.open_pool(url, max_size=pool_size)
    app.extensions[CLOCK_KEY] = clock or SystemClock()

    app.register_blueprint(api.bp)
    for part in (pages, catalogue, handoffs, appointments):
        part.register(app)

    @app.errorhandler(404)
    def not_found(_error):
        zh, en = both("dc_not_found")
        return jsonify(error="not_found", message_zh=zh, message_en=en), 404

    @app.errorhandler(405)
    def not_allowed(_error):
        zh, en = both("dc_method_not_allowed")
        return jsonify(error="method_not_allowed", message_zh=zh, message_en=en), 405

    return app
