"""Live screens over Server-Sent Events (docs/architecture.md §Processes, §Web).

One watcher thread per web process polls ``PRAGMA data_version`` (~100 ms). It changes when any
other connection commits, whichever process wrote, so every worker pushes fresh state to its own
listeners without any message bus. Each listener has a small bounded queue: a screen that falls
behind is dropped (its stream ends and the browser reconnects, getting the full state first), so a
slow screen never blocks a call.

A page describes its stream as named events, each rendered from the database: on connect all are
sent, afterwards only those whose HTML changed. Renders are cached per database version, so a
hundred screens on the same page cost one render per change, not a hundred.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar, cast

from flask import Response, stream_with_context

from ..queue.store import Store

log = logging.getLogger("tongban.live")

T = TypeVar("T")

POLL_S = 0.1
KEEPALIVE_S = 10.0
LISTENER_QUEUE = 8


class Listener:
    def __init__(self) -> None:
        self.queue: queue.Queue[int | None] = queue.Queue(maxsize=LISTENER_QUEUE)
        self.dropped = False


class Broker:
    def __init__(self, database: str, *, poll_s: float = POLL_S, release_store: Callable[[], None] = lambda: None):
        self.database = database
        self.poll_s = poll_s
        # Called after each render of a stream: a screen waiting for the next change must not hold a
        # database connection (and its page cache) for hours.
        self.release_store = release_store
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.version = 0
        self.closing = False
        self._cache: dict[str, tuple[int, object]] = {}
        self._render_locks: dict[str, threading.Lock] = {}

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
) -> Iterator[bytes]:
    """The body of one SSE response: full state first, then changed events, keep-alives between."""
    if broker.closing:
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
    finally:
        broker.unsubscribe(listener)


def sse_response(broker: Broker, render_all: Callable[[], dict[str, str]], *, cache_key: str | None = None):
    """The one way a page answers its SSE stream: never cached, never buffered by a proxy."""
    return Response(
        stream_with_context(stream(broker, render_all, cache_key=cache_key)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
