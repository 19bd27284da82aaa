"""A real district for hall tests: the district app on 127.0.0.1 (werkzeug, its own thread) over a
throwaway PostgreSQL database, and halls registered in it with their tokens."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from werkzeug.serving import make_server

from tongban.district.app import create_district_app


@contextmanager
def serving(url: str, clock=None) -> Iterator[str]:
    """The district app answering on a free port; its base URL."""
    app = create_district_app(url, clock=clock, pool_size=4)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["district_pool"].close()


def add_hall(url: str, hall_id: str) -> str:
    """Register a hall as `district hall add` does (only the token's hash is kept); its token."""
    token = secrets.token_urlsafe(32)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO halls (id, name, token_hash) VALUES (%s, %s, %s)",
            (hall_id, hall_id, hashlib.sha256(token.encode()).hexdigest()),
        )
    return token
