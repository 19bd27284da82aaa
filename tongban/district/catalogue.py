"""The district's matter catalogue and windows directory (docs/config.md "District catalogue").

``tongban district catalogue publish FILE`` checks a catalogue with the hall file's own rules
(tongban/queue/catalogue.py, the same code as ``tongban check-config``) before it stores a version;
``GET /api/v1/catalogue`` gives halls the newest one, with its version as the ETag, so a hall that
has it already gets a 304 and nothing else.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click
import psycopg
from flask import Blueprint, Flask, Response, jsonify, make_response, request

from ..queue.catalogue import check_catalogue
from ..texts import both
from . import context, db

bp = Blueprint("district_catalogue", __name__, url_prefix="/api/v1")


class CatalogueRefused(ValueError):
    """A catalogue file that cannot be published; ``problems`` in check-config's words."""

    code = "catalogue_refused"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def load_file(path: str | Path) -> dict:
    """A catalogue file, TOML or JSON (by its suffix), as a document; CatalogueRefused if unreadable."""
    path = Path(path)
    try:
        raw = path.read_bytes().decode("utf-8")
        return json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw)
    except OSError as exc:
        raise CatalogueRefused([f"(file): cannot read {path} ({exc.strerror})"]) from exc
    except UnicodeDecodeError as exc:
        raise CatalogueRefused([f"(file): not UTF-8 at byte {exc.start} (expected a UTF-8 file)"]) from exc
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise CatalogueRefused([f"(file): not valid TOML or JSON: {exc}"]) from exc


def publish(conn: psycopg.Connection[Any], doc: Any, *, note: str = "") -> str:
    """Store a new version when the catalogue passes check-config's rules; its version id."""
    problems = check_catalogue(doc)
    if "\\u0000" in json.dumps(doc, default=str):  # PostgreSQL's jsonb cannot hold it
        problems.append("(file): contains a NUL character (expected text without \\u0000)")
    if problems:
        raise CatalogueRefused(problems)
    row = conn.execute(
        "INSERT INTO catalogue_versions (body, note) VALUES (%s, %s) RETURNING id",
        (json.dumps(doc, ensure_ascii=False, default=str), note),
    ).fetchone()
    assert row is not None
    return str(row[0])


def latest(conn: psycopg.Connection[Any]) -> tuple[str, dict] | None:
    row = conn.execute("SELECT id, body FROM catalogue_versions ORDER BY id DESC LIMIT 1").fetchone()
    return (str(row[0]), row[1]) if row else None


@bp.get("/catalogue")
def get_catalogue() -> Response:
    with context.connection() as conn:
        context.hall_from_token(conn)
        found = latest(conn)
    if found is None:
        context.refuse(404, "no_catalogue", "dx_no_catalogue")
    assert found is not None
    version, body = found
    etag = f'"{version}"'
    wanted = request.headers.get("If-None-Match", "")
    if wanted and version in {tag.strip().strip('"') for tag in wanted.split(",")}:
        response = make_response("", 304)
    else:
        response = jsonify(version=version, catalogue=body)
    response.headers["ETag"] = etag
    return response


def register(app: Flask) -> None:
    app.register_blueprint(bp)


@click.group("catalogue")
def catalogue_command() -> None:
    """The matter catalogue and windows directory the halls pull."""


@catalogue_command.command("publish")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--db", "url", envvar="TONGBAN_DISTRICT_DB", required=True, help="PostgreSQL URL of the district.")
@click.option("--note", default="", help="What changed, for the record.")
def publish_command(file: str, url: str, note: str) -> None:
    """Check FILE with check-config's rules and publish it as the newest catalogue version."""
    try:
        doc = load_file(file)
        db.check_url(url)
        pool = db.open_pool(url, max_size=1)
    except CatalogueRefused as exc:
        raise click.ClickException(f"{file}: {len(exc.problems)} problem(s)\n" + "\n".join(exc.problems)) from exc
    except db.DistrictConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        with pool.connection() as conn:
            version = publish(conn, doc, note=note)
    except CatalogueRefused as exc:
        raise click.ClickException(
            f"{file}: {len(exc.problems)} problem(s), not published\n" + "\n".join(exc.problems)
        ) from exc
    finally:
        pool.close()
    click.echo(" / ".join(both("dx_catalogue_published", version=version)))
