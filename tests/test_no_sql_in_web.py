"""The web layer asks the domain (tongban/queue) for what it shows and does; it runs no SQL itself.

Every read a page needs is a named query in tongban/queue, and every write a domain call, so the
pages that show the same thing share one query and the schema can change behind them.
"""

from __future__ import annotations

import re
from pathlib import Path

import tongban.web

WEB = Path(tongban.web.__file__).resolve().parent
# `execute(` on a connection, or an SQL SELECT (upper case: the word in prose is lower case).
SQL = re.compile(r"execute\(|\bSELECT\b")


def test_no_sql_in_the_web_layer():
    found = [
        f"{path.relative_to(WEB.parent.parent)}:{n}: {line.strip()}"
        for path in sorted(WEB.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SQL.search(line)
    ]
    assert not found, "SQL in the web layer (move it to a named query in tongban/queue):\n" + "\n".join(found)
