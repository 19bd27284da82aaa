"""The worker thread over pyserial's loop:// (FakeBus: loop:// with simulated devices on it), real
clock. The same acceptance points as test_pty, without socat, so they run everywhere."""

import threading

from tests.tools.fake_displays import FakeBus
from tongban.displays import DisplayHub, KeyEvent, parse_bus_config, text_frames

from .conftest import wait_for


def bus():
    cfg, errors = parse_bus_config(
        {
            "id": "west",
            "url": "loop://",
            "preset": "xor8-nul",
            "timeout_s": 0.05,
            "poll_interval_ms": 30,
            "pacing_ms": 5,
            "backoff_min_ms": 50,
            "backoff_max_ms": 200,
            "devices": [
                {"address": 1, "kind": "window", "window": 1},
                {"address": 2, "kind": "window", "window": 2},
                {"address": 9, "kind": "keypad", "window": 2},
                {"address": 40, "kind": "hall", "rows": 3},
            ],
        },
        "buses[0]",
    )
    assert errors == []
    return cfg


def test_update_reaches_its_address_and_keypad_next_updates_display_and_led():
    cfg = bus()
    fake = FakeBus(cfg.frame, keypads={9})
    events = []
    hub = None

    def on_key(event):
        events.append(event)
        hub.window_changed(event.window, "called", "B008")

    hub = DisplayHub([cfg], on_key=on_key, opener=fake.opener)
    hub.start()
    try:
        hub.window_changed(2, "called", "B007")
        assert wait_for(lambda: fake.sim.screen(2) == "请B007到2号窗口")
        assert text_frames(cfg.frame, 2, "请B007到2号窗口")[0] in fake.wire
        assert fake.sim.screen(1) is None
        fake.sim.press(9, "next")
        assert wait_for(lambda: events == [KeyEvent("west", 9, 2, "next", None)])
        assert wait_for(lambda: fake.sim.screen(2) == "请B008到2号窗口" and fake.sim.screen(9) == "B008")
        assert wait_for(lambda: fake.sim.screen(40) == "B008 请到2号窗口\n\n")
    finally:
        hub.stop()


def test_unplug_and_plug_back_replays_current_texts():
    cfg = bus()
    fake = FakeBus(cfg.frame, keypads={9})
    hub = DisplayHub([cfg], on_key=lambda e: None, opener=fake.opener)
    worker = hub.workers["west"]
    hub.start()
    try:
        hub.window_changed(1, "called", "A001")
        assert wait_for(lambda: fake.sim.screen(1) == "请A001到1号窗口")
        fake.unplug()
        assert wait_for(lambda: worker.bus_status().state == "offline")
        for i in range(500):  # 1000 updates against a dead bus ...
            hub.window_changed(1, "called", f"A{i:03}")
            hub.window_changed(2, "closed", None)
        assert threading.get_ident() not in fake.threads  # ... and not one touched it: none waits on it
        opens = fake.opens
        fake.plug()
        assert wait_for(lambda: fake.opens == opens + 1)
        assert wait_for(
            lambda: (
                fake.sim.screen(1) == "请A499到1号窗口"
                and fake.sim.screen(2) == "窗口关闭"
                and fake.sim.screen(9) == ""
                and fake.sim.screen(40) == "A499 请到1号窗口\n\n"
            )
        )
        assert wait_for(lambda: {s.state for s in hub.status().values()} == {"ok"})
    finally:
        hub.stop()
