"""What every district request shares: its pooled connection, the clock, the hall its token names,
and JSON refusals. The blueprints import it, and the app factory imports the blueprints, so nothing
imports the app (docs/district.md §Growing: no state in the process beyond the pool)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import psycopg
from flask import abort, current_app, jsonify, request
from psycopg_pool import ConnectionPool

from ..queue.clock import Clock
from ..texts import both
from . import halls

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


def refuse(status: int, code: str, key: str, **values: Any) -> NoReturn:
    """A JSON refusal: the error code, and the words from the text table in Chinese and English."""
    zh, en = both(key, **values)
    answer = jsonify(error=code, message_zh=zh, message_en=en)
    answer.status_code = status
    abort(answer)


def hall_from_token(conn: psycopg.Connection[Any], claimed: str | None = None) -> str:
    """The hall whose Bearer token this request carries; aborts 401 ``bad_token`` for a missing,
    unknown or revoked token, and 403 ``wrong_hall`` when ``claimed`` names another hall."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    hall = halls.hall_for_token(conn, token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    if hall is None:
        refuse(401, "bad_token", "dc_bad_token")
    if claimed is not None and claimed != hall:
        refuse(403, "wrong_hall", "dc_wrong_hall", token_hall=hall, claimed=claimed)
    return hall
