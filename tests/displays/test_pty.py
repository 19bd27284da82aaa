"""The worker thread on a real tty: a socat pty pair, displays and keypads on the far end.

These are the acceptance tests of the serial displays (docs/displays.md): a display update
reaches its address; a keypad's "next" becomes a key event for its window and the display and
keypad LED follow; pulling the cable (killing socat) never blocks an update, and plugging it back
(socat again on the same path) gets every display its current text within the backoff.
"""

import threading

import pytest

from tests.tools.fake_displays import DeviceSimulator, WatchedOpener
from tongban.displays import DisplayHub, KeyEvent, parse_bus_config, text_frames

from .conftest import PtyDevice, wait_for


def bus(url, preset, **extra):
    entry = {
        "id": "east",
        "url": url,
        "preset": preset,
        # How long the worker waits for a keypad's reply. The far end answers on a thread and through
        # socat, which a loaded machine may not run for a while; a reply later than this is dropped
        # with the key in it, so generous here: only a dead bus makes the worker wait it out.
        "timeout_s": 1.0,
        "baudrate": 115200,
        "poll_interval_ms": 50,
        "backoff_min_ms": 100,
        "backoff_max_ms": 400,
        "devices": [
            {"address": 11, "kind": "window", "window": 1},
            {"address": 13, "kind": "window", "window": 3},
            {"address": 15, "kind": "keypad", "window": 3},
            {"address": 30, "kind": "hall", "rows": 2},
        ],
    }
    entry.update(extra)
    cfg, errors = parse_bus_config(entry, "buses[0]")
    assert errors == []
    return cfg


def diagnose(hub, sim, device):
    return (
        f"status={hub.status()} bus={hub.bus_status()} desired={ {k: w.desired() for k, w in hub.workers.items()} } "
        f"device_gone={device.gone.is_set()} shown={dict(sim.shown)} undecoded={bytes(sim._decoder.buf).hex()}"
    )


class Service:
    """Stands in for the core: a key press calls the next ticket and the window changes."""

    def __init__(self):
        self.events: list[KeyEvent] = []
        self.hub: DisplayHub | None = None
        self.next_number = {3: 13}

    def on_key(self, event: KeyEvent) -> None:
        self.events.append(event)
        if event.key == "next":
            n = self.next_number[event.window]
            self.next_number[event.window] += 1
            self.hub.window_changed(event.window, "called", f"A{n:03}")


@pytest.mark.parametrize("preset", ["sum8-ff", "xor8-nul", "len-crc16"])
def test_update_reaches_its_address_and_next_key_updates_display_and_keypad(socat, preset):
    cfg = bus(socat.a, preset)
    sim = DeviceSimulator(cfg.frame, keypads={15})
    device = PtyDevice(socat.b, sim)
    service = Service()
    hub = service.hub = DisplayHub([cfg], on_key=service.on_key)
    hub.start()
    try:
        hub.window_changed(3, "called", "A012")
        assert wait_for(lambda: sim.screen(13) == "请A012到3号窗口")
        # the bytes the display got are the spec's frame for address 13, and nobody else got it
        assert text_frames(cfg.frame, 13, "请A012到3号窗口")[0] in sim.frames
        assert sim.screen(11) is None
        assert wait_for(lambda: sim.screen(15) == "A012")

        sim.press(15, "next")
        assert wait_for(lambda: service.events == [KeyEvent("east", 15, 3, "next", None)])
        assert wait_for(lambda: sim.screen(13) == "请A013到3号窗口" and sim.screen(15) == "A013")
        assert wait_for(lambda: sim.screen(30) == "A013 请到3号窗口\n"), diagnose(hub, sim, device)
        assert hub.status()[("east", 15)].state == "ok"
    finally:
        hub.stop()
        device.close()


@pytest.mark.slow
def test_unplugged_bus_never_blocks_and_replays_every_display_when_back(socat):
    cfg = bus(socat.a, "sum8-ff")
    sim = DeviceSimulator(cfg.frame, keypads={15})
    device = PtyDevice(socat.b, sim)
    port = WatchedOpener()
    hub = DisplayHub([cfg], on_key=lambda e: None, opener=port)
    worker = hub.workers["east"]
    hub.start()
    try:
        hub.window_changed(1, "called", "B001")
        hub.window_changed(3, "called", "A012")
        assert wait_for(lambda: sim.screen(13) == "请A012到3号窗口" and sim.screen(11) == "请B001到1号窗口")

        socat.kill()
        assert device.gone.wait(5)
        device.close()
        # Updates keep coming while the bus is dead; none may wait on it: none touches it.
        for i in range(200):
            hub.window_changed(3, "called", f"A{100 + i:03}")
        assert wait_for(lambda: worker.bus_status().state == "offline")
        assert hub.status()[("east", 13)].state == "offline"
        hub.window_changed(1, "paused", None)
        assert threading.get_ident() not in port.threads
        # A few failed reopen attempts, backing off up to its ceiling (backoff_max_ms) and no further:
        # the cable plugged back in is tried again within 0.4 s (test_worker times the backoff).
        attempts = port.attempts
        assert wait_for(lambda: port.attempts >= attempts + 4)
        assert worker.bus_status().detail.endswith("retry in 0.4s"), worker.bus_status()

        socat.start()
        sim2 = DeviceSimulator(cfg.frame, keypads={15})
        device = PtyDevice(socat.b, sim2)
        # Reconnected, and every display got what it should show now, not what it showed when the
        # cable came out.
        assert wait_for(lambda: worker.bus_status().state == "ok")
        assert wait_for(lambda: sim2.screen(13) == "请A299到3号窗口")
        assert wait_for(lambda: sim2.screen(11) == "暂停服务")
        assert wait_for(lambda: sim2.screen(15) == "A299")
        assert wait_for(lambda: sim2.screen(30) == "A299 请到3号窗口\n")
        assert text_frames(cfg.frame, 11, "暂停服务")[0] in sim2.frames
        assert wait_for(lambda: hub.status()[("east", 13)].state == "ok")
        assert wait_for(lambda: hub.status()[("east", 15)].state == "ok")
    finally:
        hub.stop()
        device.close()
