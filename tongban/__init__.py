"""Tongban (通办): offline-first kiosk and queueing for cross-province service windows."""

__version__ = "0.1.0"
