"""No personal data in the logs (docs/architecture.md §Web).

Both processes log to stderr (journald on a hall box), kept far longer than a case's personal data.
Two guards, both here:

- ``AccessLogger``, gunicorn's logger for ``tongban serve``: a request is logged by its path only.
  Query strings carry case searches (``/cases?q=13812345678``), enrolment tokens and kiosk state,
  so they are left out of the request line, and so is the referrer's; ID and mobile numbers in a
  path are masked.
- ``MaskingFormatter`` on every log handler (ours and gunicorn's): whatever a message or a traceback
  says, ID and mobile numbers in it come out masked (``queue/masking.mask_personal``).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

from gunicorn.glogging import Logger

from .queue.masking import mask_personal


class MaskingFormatter(logging.Formatter):
    """Formats as ``inner`` does, then masks personal numbers in the whole text."""

    def __init__(self, inner: logging.Formatter | None = None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal(self.inner.format(record))


def mask_handlers(logger: logging.Logger) -> None:
    """Give every handler of ``logger`` the masking formatter (once)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, MaskingFormatter):
            handler.setFormatter(MaskingFormatter(handler.formatter))


def path_only(url: str) -> str:
    """A URL or request target without its query string, with personal numbers masked (also ones
    sent percent-encoded)."""
    path = url.split("?", 1)[0]
    masked = mask_personal(unquote(path))
    return masked if masked != unquote(path) else path


class AccessLogger(Logger):
    """gunicorn's logger with the request line, the path and the referrer reduced to paths."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        mask_handlers(self.error_log)
        mask_handlers(self.access_log)

    def atoms(self, resp, req, environ, request_time):
        atoms: dict[str, Any] = dict(super().atoms(resp, req, environ, request_time))
        for key, value in atoms.items():
            if key in ("q", "{query_string}e"):
                atoms[key] = ""
            elif isinstance(value, str) and (value.startswith("/") or "://" in value):
                atoms[key] = path_only(value)  # the path, the referrer, any URL a format might name
        target = path_only(environ.get("RAW_URI") or environ.get("PATH_INFO") or "")
        atoms["r"] = f"{environ.get('REQUEST_METHOD', '-')} {target} {environ.get('SERVER_PROTOCOL', '-')}"
        return atoms
