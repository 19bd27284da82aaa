"""The district web service: ``create_district_app(url)`` (docs/district.md).

No state lives in the process: every request borrows a PostgreSQL connection from the pool, and all
that a page or an answer needs is in the database. So any number of instances can stand behind one
front (docs/district.md §Growing).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from flask import Flask, current_app, jsonify
from psycopg_pool import ConnectionPool

from ..queue.clock import Clock, SystemClock
from . import db

POOL_KEY = "district_pool"
CLOCK_KEY = "district_clock"


@contextmanager
def connection() -> Iterator[psycopg.Connection[Any]]:
    """One transaction on a pooled connection: committed when the block ends, rolled back on an error."""
    pool: ConnectionPool = current_app.extensions[POOL_KEY]
    with pool.connection() as conn:
        yield conn


def clock() -> Clock:
    return current_app.extensions[CLOCK_KEY]


def create_district_app(
    url: str, *, pool: ConnectionPool | None = None, clock: Clock | None = None, pool_size: int = 8
) -> Flask:
    app = Flask(__name__, template_folder="templates", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    app.extensions[POOL_KEY] = pool or db.open_pool(url, max_size=pool_size)
    app.extensions[CLOCK_KEY] = clock or SystemClock()

    from . import api

    app.register_blueprint(api.bp)
    for name in ("pages", "catalogue", "handoffs", "appointments"):
        # Parts of the service that ship in their own modules register here when present.
        module = __import__(f"{__package__}.{name}", fromlist=["register"]) if _has(name) else None
        if module is not None:
            module.register(app)

    @app.errorhandler(404)
    def not_found(_error):
        return jsonify(error="not_found", message_zh="没有这个地址", message_en="No such address"), 404

    @app.errorhandler(405)
    def not_allowed(_error):
        return jsonify(error="method_not_allowed", message_zh="不支持此方法", message_en="Method not allowed"), 405

    return app


def _has(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"{__package__}.{name}") is not None
