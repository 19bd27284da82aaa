"""Keeping a hall box running for years (docs/architecture.md §Operations, docs/install.md).

- ``notify``: systemd readiness and watchdog pings (sd_notify over the unix datagram socket).
- ``backup``: online backups with the sqlite3 backup API, pruning, and restore with a check first.
- ``disk``: free-space warnings for the manager console and ``tongban doctor``.
- ``doctor``: every check of a running install, each finding with what to do.
- ``damage``: the marker a failed integrity check leaves, so neither process serves a damaged file.
"""
