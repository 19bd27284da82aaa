"""Flask's ``request``, typed with the ``.htmx`` that htmx-flask's ``Htmx`` gives it at runtime.

htmx_flask exports the same cast as ``htmx_flask.request``, but it re-assigns a name imported from
flask, and mypy keeps flask's type for that; a name of our own keeps the cast.
"""

from __future__ import annotations

from typing import cast

from flask import request as flask_request
from htmx_flask.requests import HtmxAwareRequest

request = cast(HtmxAwareRequest, flask_request)
