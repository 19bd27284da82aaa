"""A bus behind an RS-485-to-Ethernet converter (`socket://host:port`): a converter stand-in on
127.0.0.1 that drops the connection, as converters do when they reboot."""

import dataclasses
import socket
import threading

from tests.tools.fake_displays import DeviceSimulator
from tongban.displays import DisplayHub, KeyEvent, parse_bus_config

from .conftest import wait_for


class Converter:
    """Accepts one TCP client at a time and passes its bytes to the devices behind it."""

    def __init__(self, sim: DeviceSimulator):
        self.sim = sim
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.client: socket.socket | None = None
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.server.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            self.client = conn
            conn.settimeout(0.05)
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                answer = self.sim.feed(data)
                if answer:
                    try:
                        conn.sendall(answer)
                    except OSError:
                        break
            conn.close()

    def drop(self):
        """The converter reboots: the TCP connection goes away under the worker."""
        if self.client is not None:
            self.client.shutdown(socket.SHUT_RDWR)

    def close(self):
        self._stop.set()
        self.server.close()


def test_socket_bus_shows_texts_hears_keys_and_replays_after_a_dropped_connection():
    cfg, errors = parse_bus_config(
        {
            "id": "net",
            "url": "socket://127.0.0.1:0",
            "preset": "len-crc16",
            "timeout_s": 1.0,  # generous: a reply later than this is dropped, with the key in it
            "poll_interval_ms": 30,
            "backoff_min_ms": 50,
            "backoff_max_ms": 200,
            "devices": [
                {"address": 300, "kind": "window", "window": 4},
                {"address": 301, "kind": "keypad", "window": 4},
            ],
        },
        "buses[0]",
    )
    assert errors == []
    sim = DeviceSimulator(cfg.frame, keypads={301})
    conv = Converter(sim)
    cfg = dataclasses.replace(cfg, url=f"socket://127.0.0.1:{conv.port}")
    events = []
    hub = DisplayHub([cfg], on_key=events.append)
    hub.start()
    try:
        hub.window_changed(4, "called", "C021")
        assert wait_for(lambda: sim.screen(300) == "请C021到4号窗口" and sim.screen(301) == "C021")
        sim.press(301, "recall")
        assert wait_for(lambda: events == [KeyEvent("net", 301, 4, "recall", None)])

        conv.drop()
        hub.window_changed(4, "paused", None)
        assert wait_for(lambda: conv.connections == 2)
        assert wait_for(lambda: sim.screen(300) == "暂停服务" and sim.screen(301) == "P")
        assert wait_for(lambda: hub.status()[("net", 301)].state == "ok")
    finally:
        hub.stop()
        conv.close()
