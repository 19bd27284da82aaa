"""Live screens over Server-Sent Events (docs/architecture.md §Processes, §Web).

One watcher thread per web process polls ``PRAGMA data_version`` (~100 ms). It changes when any
other connection commits, whichever process wrote, so every worker pushes fresh state to its own
listeners without any message bus. Each listener has a small bounded queue: a screen that falls
behind is dropped (its stream ends and the browser reconnects, getting the full state first), so a
slow screen never blocks a call.

A page describes its stream as named events, each rendered from the database: on connect all are
sent, afterwards only those whose HTML changed. Renders are cached per database version, so a
hundred screens on the same page cost one render per change, not a hundred.

Every stream holds one of the server's threads for as long as it is open. A stream let in by a staff
session or a terminal token ends when that session ends or expires or the terminal is revoked (looked
up again on every change and keep-alive). Streams anyone may open (a ticket's status on a phone) hold
a slot: past a cap in total or per ticket, the page is told to poll instead (``Slot``).

The broker also knows which enrolled terminals (kiosks, rating pads, displays) hold a stream now and
when each was last seen (``Presence``): the manager console shows it as the terminals' health. It is
kept in memory, so "last seen" counts from the web's last start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar, cast

from flask import Response, g, stream_with_context

from ..queue.store import Store

log = logging.getLogger("tongban.live")

T = TypeVar("T")

POLL_S = 0.1
KEEPALIVE_S = 10.0
LISTENER_QUEUE = 8
# Phones following their ticket (/t/<token>/live): at most this many streams at once, and per ticket.
# Beyond that the status page polls every 10 s instead. cli.threads_for counts them in the threads.
PUBLIC_STREAMS = 48
PUBLIC_STREAMS_PER_TICKET = 2


class Slot(NamedTuple):
    """One of at most ``total`` streams of ``group`` at once, and ``per_key`` of them for ``key``."""

    group: str
    key: str
    total: int
    per_key: int


@dataclass(frozen=True)
class Presence:
    """One terminal's live connections: how many streams it holds now, and when it was last seen (its
    stream opened, kept alive, or closed)."""

    streams: int
    last_seen: datetime

    @property
    def connected(self) -> bool:
        return self.streams > 0


class Listener:
    def __init__(self) -> None:
        self.queue: queue.Queue[int | None] = queue.Queue(maxsize=LISTENER_QUEUE)
        self.dropped = False


class Broker:
    def __init__(
        self,
        database: str,
        *,
        poll_s: float = POLL_S,
        release_store: Callable[[], None] = lambda: None,
        signed_in: Callable[[Any], bool] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.database = database
        self.poll_s = poll_s
        # Called after each render of a stream: a screen waiting for the next change must not hold a
        # database connection (and its page cache) for hours.
        self.release_store = release_store
        # Is the principal a stream was let in with (g.principal) still signed in? (access.still_signed_in)
        self.signed_in = signed_in
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.version = 0
        self.closing = False
        self.keepalive_s = KEEPALIVE_S
        self._slots: dict[str, dict[str, int]] = {}
        self._cache: dict[str, tuple[int, object]] = {}
        self._render_locks: dict[str, threading.Lock] = {}
        self.now = now
        self._presence: dict[str, Presence] = {}

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                # The baseline is read here, not on the new thread: a change committed between the
                # first subscribe() and the thread's first look would otherwise never be pushed.
                store = Store(self.database, migrate=False)
                self._thread = threading.Thread(
                    target=self._watch, args=(store, store.data_version()), name="tongban-live", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close_all(self) -> None:
        """End every stream now (the server is stopping): screens reconnect to the restarted server
        at once, and the server does not wait out its graceful timeout for idle streams."""
        self.closing = True
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            self._drop(listener)

    def _watch(self, store: Store, last: int) -> None:
        try:
            while not self._stop.wait(self.poll_s):
                try:
                    current = store.data_version()
                except Exception:
                    log.exception("data_version failed")
                    continue
                if current != last:
                    last = current
                    self.publish()
        finally:
            store.close()

    def publish(self) -> None:
        """Tell every listener something changed; drop those that are too far behind."""
        with self._lock:
            self.version += 1
            version = self.version
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener.queue.put_nowait(version)
            except queue.Full:
                self._drop(listener)

    def _drop(self, listener: Listener) -> None:
        listener.dropped = True
        with self._lock:
            self._listeners.discard(listener)
        try:
            listener.queue.put_nowait(None)
        except queue.Full:
            pass  # its stream sees .dropped at the next wake-up

    def subscribe(self) -> Listener:
        self.start()
        listener = Listener()
        with self._lock:
            self._listeners.add(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    @property
    def listener_count(self) -> int:
        with self._lock:
            return len(self._listeners)

    def _has_room(self, slot: Slot) -> bool:
        held = self._slots.get(slot.group, {})
        return sum(held.values()) < slot.total and held.get(slot.key, 0) < slot.per_key

    def has_room(self, slot: Slot) -> bool:
        with self._lock:
            return self._has_room(slot)

    def claim(self, slot: Slot) -> bool:
        """Take the slot if its caps allow; every successful claim is released once."""
        with self._lock:
            if not self._has_room(slot):
                return False
            held = self._slots.setdefault(slot.group, {})
            held[slot.key] = held.get(slot.key, 0) + 1
            return True

    def release(self, slot: Slot) -> None:
        with self._lock:
            held = self._slots.get(slot.group, {})
            if held.get(slot.key, 0) <= 1:
                held.pop(slot.key, None)
            else:
                held[slot.key] -= 1

    def held(self, group: str) -> int:
        with self._lock:
            return sum(self._slots.get(group, {}).values())

    # ---------- which terminals are connected ----------

    def terminal_connected(self, terminal_id: str) -> None:
        self._seen(terminal_id, +1)
        self.publish()  # the manager console's terminal list changed, though the database did not

    def terminal_seen(self, terminal_id: str) -> None:
        self._seen(terminal_id, 0)

    def terminal_gone(self, terminal_id: str) -> None:
        self._seen(terminal_id, -1)
        if not self.closing:
            self.publish()

    def _seen(self, terminal_id: str, change: int) -> None:
        now = self.now()
        with self._lock:
            held = self._presence.get(terminal_id)
            self._presence[terminal_id] = Presence(max(0, (held.streams if held else 0) + change), now)

    def presence(self) -> dict[str, Presence]:
        """Every terminal seen since the web started: streams held now, last seen."""
        with self._lock:
            return dict(self._presence)

    def cached(self, key: str, render: Callable[[], T]) -> T:
        """One render per (page, database version), shared by all listeners of that page.

        Single-flight: when a change wakes a hundred screens of one page at once, one thread renders
        and the others wait for its result instead of all rendering the same thing."""
        version = self.version
        with self._lock:
            page_lock = self._render_locks.setdefault(key, threading.Lock())
        with page_lock:
            with self._lock:
                hit = self._cache.get(key)
            if hit and hit[0] == version:
                return cast(T, hit[1])  # a key is always rendered by the same page's function
            value = render()
            with self._lock:
                self._cache[key] = (version, value)
            return value


def sse_event(name: str, data: str) -> bytes:
    lines = data.splitlines() or [""]
    return (f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


def sse_events(rendered: dict[str, str]) -> dict[str, bytes]:
    return {name: sse_event(name, html) for name, html in rendered.items()}


def stream(
    broker: Broker,
    render_all: Callable[[], dict[str, str]],
    *,
    cache_key: str | None = None,
    keepalive_s: float = KEEPALIVE_S,
    alive: Callable[[], bool] | None = None,
    slot: Slot | None = None,
    overflow: Callable[[], dict[str, str]] | None = None,
    terminal: str | None = None,
    on_keepalive: Callable[[], None] | None = None,
) -> Iterator[bytes]:
    """The body of one SSE response: full state first, then changed events, keep-alives between.

    ``alive`` is asked on every change and keep-alive; the stream ends once it says no. With a
    ``slot``, a stream beyond its caps sends ``overflow()``'s events and ends instead. A ``terminal``'s
    stream counts as that terminal being connected (``Broker.presence``) while it is open."""
    if broker.closing:
        return
    if terminal is not None:
        broker.terminal_connected(terminal)
        try:
            yield from stream(
                broker,
                render_all,
                cache_key=cache_key,
                keepalive_s=keepalive_s,
                alive=alive,
                slot=slot,
                overflow=overflow,
                on_keepalive=lambda: broker.terminal_seen(terminal),
            )
        finally:
            broker.terminal_gone(terminal)
        return
    if slot is not None:
        if not broker.claim(slot):
            yield from overflow_events(broker, overflow or dict)
            return
        try:
            yield from stream(broker, render_all, cache_key=cache_key, keepalive_s=keepalive_s, alive=alive)
        finally:
            broker.release(slot)
        return
    listener = broker.subscribe()
    sent: dict[str, bytes] = {}

    def render() -> dict[str, bytes]:
        # Events are encoded once per change and page, not once per screen: a hundred screens of
        # one page then cost one render and a hundred writes of the same bytes.
        try:
            return broker.cached(cache_key, lambda: sse_events(render_all())) if cache_key else sse_events(render_all())
        finally:
            broker.release_store()

    def still_alive() -> bool:
        if alive is None:
            return True
        try:
            return alive()
        except Exception:  # a database hiccup must not cut every screen off
            log.exception("checking a live stream's sign-in failed")
            return True
        finally:
            broker.release_store()

    try:
        yield b"retry: 2000\n\n"
        while True:
            for name, event in render().items():
                if sent.get(name) != event:
                    sent[name] = event
                    yield event
            deadline = time.monotonic() + keepalive_s
            while True:
                try:
                    item = listener.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    if not still_alive():
                        return
                    if on_keepalive is not None:
                        on_keepalive()
                    yield b": keep-alive\n\n"
                    deadline = time.monotonic() + keepalive_s
                    continue
                if item is None or listener.dropped:
                    return
                # Drain what piled up: one render covers them all.
                while not listener.queue.empty():
                    if listener.queue.get_nowait() is None:
                        return
                break
            if not still_alive():
                return
    finally:
        broker.unsubscribe(listener)


def overflow_events(broker: Broker, overflow: Callable[[], dict[str, str]]) -> Iterator[bytes]:
    """A stream refused for lack of room: one render of ``overflow()``'s events, then the end."""
    try:
        events = sse_events(overflow())
    finally:
        broker.release_store()
    yield b"retry: 10000\n\n"
    yield from events.values()


def principal_check(broker: Broker) -> Callable[[], bool] | None:
    """For a stream let in by a staff session or a terminal (``g.principal``): is it still good?"""
    principal = g.get("principal")
    signed_in = broker.signed_in
    if principal is None or signed_in is None or getattr(principal, "token", None) is None:
        return None
    return lambda: signed_in(principal)


def _terminal_id() -> str | None:
    """The enrolled terminal this request comes from (g.principal), if it is one."""
    principal = g.get("principal")
    terminal = getattr(principal, "terminal", None)
    return terminal.id if terminal is not None else None


def sse_response(
    broker: Broker,
    render_all: Callable[[], dict[str, str]],
    *,
    cache_key: str | None = None,
    slot: Slot | None = None,
    overflow: Callable[[], dict[str, str]] | None = None,
):
    """The one way a page answers its SSE stream: never cached, never buffered by a proxy."""
    body = stream(
        broker,
        render_all,
        cache_key=cache_key,
        keepalive_s=broker.keepalive_s,
        alive=principal_check(broker),
        slot=slot,
        overflow=overflow,
        terminal=_terminal_id(),
    )
    return Response(
        stream_with_context(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def overflow_response(broker: Broker, overflow: Callable[[], dict[str, str]]):
    """What a refused stream answers: ``overflow()``'s events at once, then the end."""
    return Response(
        stream_with_context(overflow_events(broker, overflow)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
