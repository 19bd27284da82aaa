"""Tongban (通办): offline-first kiosk and queueing for cross-province service windows."""

__version__ = "0.1.0"


def create_app(config):
    """See :func:`tongban.web.app.create_app` (imported lazily so the domain never pulls in Flask)."""
    from .web.app import create_app as _create_app

    return _create_app(config)
