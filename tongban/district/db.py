"""The district's PostgreSQL: URL checks, the connection pool and schema migrations.

Schema changes are yoyo SQL files in ``migrations/`` (docs/district.md §Data): yoyo takes a lock in
the database itself, so two instances started at once migrate once.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from psycopg_pool import ConnectionPool

MIGRATIONS = Path(__file__).parent / "migrations"


class DistrictConfigError(ValueError):
    """A district setting cannot be used; the message names the field and what was expected."""


def check_url(url: str, field: str = "--db") -> str:
    """A libpq URI: postgresql://user[:password]@host[:port]/dbname, or ?host=/socket/dir."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise DistrictConfigError(
            f"{field}: {url!r} is not a PostgreSQL URL (expected postgresql://user@host/dbname"
            " or postgresql:///dbname?host=/run/postgresql)"
        )
    return url


def migrate(url: str) -> list[str]:
    """Create or upgrade the schema; returns the ids of the migrations applied now."""
    from yoyo import get_backend, read_migrations

    check_url(url)
    backend = get_backend("postgresql+psycopg" + url[url.index(":") :])
    try:
        migrations = read_migrations(str(MIGRATIONS))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        # yoyo keeps its connection until the backend is collected; a database still held open
        # cannot be copied as a template or dropped.
        backend.connection.close()


def pending_migrations(url: str) -> list[str]:
    from yoyo import get_backend, read_migrations

    backend = get_backend("postgresql+psycopg" + url[url.index(":") :])
    try:
        return [m.id for m in backend.to_apply(read_migrations(str(MIGRATIONS)))]
    finally:
        backend.connection.close()


def open_pool(url: str, *, min_size: int = 1, max_size: int = 8) -> ConnectionPool:
    """One pool per process. Connections are autocommit off: each ``with pool.connection()`` block is
    one transaction, committed at its end or rolled back on an exception."""
    check_url(url)
    pool = ConnectionPool(url, min_size=min_size, max_size=max_size, open=False, name="district")
    pool.open(wait=True, timeout=10)
    return pool
