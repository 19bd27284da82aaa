"""The hall's one way to reach its district: JSON over HTTP with the hall's token.

Only the devices process uses it (docs/architecture.md §District sync): no request of the hall's web ever
waits on the network. Every failure, whatever its cause, is one ``DistrictUnavailable`` whose text
says what happened, for the manager console's sync panel.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class DistrictUnavailable(Exception):
    """The district could not be reached or refused the request (``status`` is its HTTP status, if any)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class DistrictClient:
    def __init__(self, url: str, token: str, *, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode("utf-8", "replace")
            raise DistrictUnavailable(f"HTTP {error.code} from {path}: {detail}", status=error.code) from None
        except (OSError, urllib.error.URLError) as error:
            raise DistrictUnavailable(f"{path}: {getattr(error, 'reason', error)}") from None
        try:
            return json.loads(payload) if payload else {}
        except ValueError:
            raise DistrictUnavailable(f"{path}: the answer is not JSON") from None

    def get_json(self, path: str) -> Any:
        return self._request("GET", path)

    def post_json(self, path: str, body: Any) -> Any:
        return self._request("POST", path, body)
