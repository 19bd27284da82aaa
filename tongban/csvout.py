"""Every CSV the hall exports is written here: the day report's tables (queue/reports.py) and the
case list (web/cases/routes.py), docs/architecture.md §Web.

Safe to open in a spreadsheet. A text cell beginning with ``=``, ``+``, ``-`` or ``@`` (or their
full-width forms, which a Chinese input method types), a tab or a carriage return is read by Excel,
WPS and LibreOffice as a formula: a citizen's comment ``=HYPERLINK("http://…", "…")`` on the rating
pad would become a live link in the manager's report. Such a cell is written with a leading ``'``,
as OWASP recommends for CSV injection. Numbers are not text: an int or a float is written as the
number it is, negative ones too.

UTF-8 with a byte order mark, so that Excel as used in halls opens the Chinese intact, and CRLF line
ends (RFC 4180). Nothing here needs Flask: the domain writes its reports with it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

#: What a spreadsheet takes for the start of a formula (OWASP, CSV injection), and the full-width forms.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
BOM = "\ufeff"
MEDIA_TYPE = "text/csv"  # werkzeug adds "; charset=utf-8" to a text/ type itself


def cell(value: object) -> object:
    """A value as one cell: numbers as they are, None as empty, text neutralised if it would be a formula."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def document(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """A whole CSV file: BOM, the header row, then one row per item; every cell through ``cell``."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(title) for title in header])
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()
