"""BusWorker driven step by step (`run_once`) with a fake clock, over FakeBus (pyserial loop://
with simulated devices on the far end). No threads here: each test says exactly what the wire
carries, in order."""

import termios

import pytest
import serial

from tests.tools.fake_displays import FakeBus
from tongban.displays import BusWorker, DisplayError, DisplayHub, KeyEvent, parse_bus_config, poll_frame, text_frames


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def bus(preset="sum8-ff", devices=None, **extra):
    entry = {
        "id": "b1",
        "url": "loop://",
        "preset": preset,
        "timeout_s": 0.05,
        "backoff_min_ms": 500,
        "backoff_max_ms": 4000,
        "poll_interval_ms": 200,
        "devices": devices
        or [
            {"address": 1, "kind": "window", "window": 1},
            {"address": 2, "kind": "window", "window": 2},
            {"address": 5, "kind": "keypad", "window": 1},
        ],
    }
    entry.update(extra)
    cfg, errors = parse_bus_config(entry, "buses[0]")
    assert errors == []
    return cfg


def make(cfg=None, keypads=(5,), **kw):
    cfg = cfg or bus()
    fake = FakeBus(cfg.frame, keypads=set(keypads))
    clock = Clock()
    keys = []
    worker = BusWorker(cfg, keys.append, clock=clock, opener=fake.opener, **kw)
    return worker, fake, clock, keys


def run(worker, clock, steps):
    """Let the worker act `steps` times, moving the clock to whenever it says it is next due."""
    for _ in range(steps):
        due = worker.run_once()
        clock.t = max(clock.t, due)


def run_for(worker, clock, seconds):
    """Let the worker act until `seconds` of fake time have passed."""
    end = clock.t + seconds + 1e-9
    while True:
        due = worker.run_once()
        if due > end:
            return
        clock.t = max(clock.t, due)


def test_a_display_update_reaches_the_right_address():
    cfg = bus(devices=[{"address": 1, "kind": "window", "window": 1}, {"address": 2, "kind": "window", "window": 2}])
    worker, fake, clock, _ = make(cfg, keypads=())
    worker.show(2, "请A012到2号窗口")
    worker.run_once()  # opens the bus and writes, in one step
    assert fake.wire == text_frames(cfg.frame, 2, "请A012到2号窗口")
    assert fake.sim.screen(2) == "请A012到2号窗口" and fake.sim.screen(1) is None
    assert worker.status()[2].state == "ok" and worker.status()[1].state == "unknown"


def test_unknown_address_is_refused_at_once():
    worker, *_ = make()
    with pytest.raises(DisplayError, match="bus b1 has no device at address 9"):
        worker.show(9, "x")


def test_only_the_latest_text_per_display_is_sent_and_order_is_kept():
    cfg = bus(devices=[{"address": 1, "kind": "window", "window": 1}, {"address": 2, "kind": "window", "window": 2}])
    worker, fake, clock, _ = make(cfg, keypads=())
    worker.show(1, "A001")
    worker.show(2, "B001")
    worker.show(1, "A002")  # replaces A001, keeps window 1's place in line
    run(worker, clock, 5)
    assert fake.wire == text_frames(cfg.frame, 1, "A002") + text_frames(cfg.frame, 2, "B001")


def test_frames_are_paced():
    cfg = bus(
        devices=[{"address": 1, "kind": "window", "window": 1}, {"address": 2, "kind": "window", "window": 2}],
        pacing_ms=100,
    )
    worker, fake, clock, _ = make(cfg, keypads=())
    worker.show(1, "a")
    worker.show(2, "b")
    due = worker.run_once()
    assert due == pytest.approx(clock.t + 0.1) and len(fake.wire) == 1
    clock.t += 0.099
    worker.run_once()
    assert len(fake.wire) == 1  # 99 ms later the second frame still waits
    clock.t += 0.001
    worker.run_once()
    assert len(fake.wire) == 2


def test_keypad_next_becomes_a_key_event_for_its_window():
    worker, fake, clock, keys = make()
    fake.sim.press(5, "next")
    worker.run_once()
    assert keys == [KeyEvent("b1", 5, 1, "next", None)]
    assert fake.wire == [poll_frame(worker.spec, 5)]
    assert worker.status()[5].state == "ok"


def test_transfer_carries_the_line_number():
    worker, fake, clock, keys = make(bus("len-crc16"))
    fake.sim.press(5, "transfer", 3)
    worker.run_once()
    assert keys == [KeyEvent("b1", 5, 1, "transfer", "3")]


def test_polls_and_writes_take_turns_and_never_overlap():
    worker, fake, clock, keys = make()
    for i in range(3):
        worker.show(1, f"A00{i}")
        worker.show(2, f"B00{i}")
    run(worker, clock, 3)
    poll = poll_frame(worker.spec, 5)
    # each entry in fake.wire is one whole write: a frame never shares a write with another
    assert fake.wire == [text_frames(worker.spec, 1, "A002")[0], poll, text_frames(worker.spec, 2, "B002")[0]]


def test_keypads_are_polled_at_the_configured_interval():
    worker, fake, clock, _ = make()
    run_for(worker, clock, 1.0)
    assert fake.sim.polls[5] == 6  # at 0, 0.2, ... 1.0 s


def test_a_silent_keypad_goes_offline_after_missed_polls():
    worker, fake, clock, _ = make(keypads=())  # nobody answers at 5
    run_for(worker, clock, 0.2)  # two polls
    assert worker.status()[5].state != "offline"
    run_for(worker, clock, 0.2)  # a third
    assert worker.status()[5].state == "offline"
    assert worker.status()[5].detail == "no reply to 3 polls"


def test_a_failing_key_handler_does_not_stop_the_bus():
    cfg = bus()
    fake = FakeBus(cfg.frame, keypads={5})
    clock = Clock()

    def boom(event):
        raise RuntimeError("service refused")

    worker = BusWorker(cfg, boom, clock=clock, opener=fake.opener)
    fake.sim.press(5, "next")
    worker.run_once()
    worker.show(1, "A001")
    run(worker, clock, 2)
    assert fake.sim.screen(1) == "A001"


def test_unplugged_bus_backs_off_then_replays_what_every_display_should_show():
    worker, fake, clock, keys = make(keypads=())
    worker.show(1, "A001")
    worker.show(2, "B001")
    run(worker, clock, 2)
    fake.unplug()
    t0 = clock.t
    worker.show(1, "A002")
    touched = (fake.open_attempts, len(fake.wire))
    for i in range(1000):  # a dead bus costs callers nothing: show() never touches the wire
        worker.show(2, f"B{i:03}")
    assert (fake.open_attempts, len(fake.wire)) == touched
    worker.run_once()  # the write fails: closed, offline, retry in 0.5 s
    st = worker.status()
    assert {st[a].state for a in (1, 2, 5)} == {"offline"}
    assert "retry in 0.5s" in st[1].detail
    assert worker.bus_status().state == "offline"
    attempts = fake.open_attempts
    clock.t = t0 + 0.4
    worker.run_once()
    assert fake.open_attempts == attempts  # still backing off
    clock.t = t0 + 0.5
    worker.run_once()
    assert fake.open_attempts == attempts + 1  # tried, failed: next wait doubles to 1 s
    assert "retry in 1.0s" in worker.status()[1].detail
    clock.t = t0 + 1.4
    worker.run_once()
    assert fake.open_attempts == attempts + 1
    fake.plug()
    clock.t = t0 + 1.5
    before = len(fake.wire)
    run(worker, clock, 4)
    replayed = fake.wire[before:]
    assert text_frames(worker.spec, 1, "A002")[0] in replayed
    assert text_frames(worker.spec, 2, "B999")[0] in replayed
    assert fake.sim.screen(1) == "A002" and fake.sim.screen(2) == "B999"
    assert worker.status()[1].state == "ok" and worker.bus_status().state == "ok"


def test_backoff_is_capped():
    worker, fake, clock, _ = make(keypads=())
    fake.unplug()
    waits = []
    for _ in range(6):
        t = clock.t
        due = worker.run_once()
        waits.append(round(due - t, 3))
        clock.t = due
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_newer_hall_text_drops_the_rest_of_the_old_one():
    cfg = bus("len-crc16", devices=[{"address": 30, "kind": "hall", "rows": 3}])
    worker, fake, clock, _ = make(cfg, keypads=())
    worker.show(30, "A001 1\nA002 2\nA003 3")
    worker.run_once()  # row 0 of the old text
    worker.show(30, "B001 1\nB002 2\nB003 3")
    run(worker, clock, 4)
    old = text_frames(cfg.frame, 30, "A001 1\nA002 2\nA003 3")
    new = text_frames(cfg.frame, 30, "B001 1\nB002 2\nB003 3")
    assert fake.wire == old[:1] + new
    assert fake.sim.screen(30) == "B001 1\nB002 2\nB003 3"


def test_hub_routes_a_window_change_to_its_display_keypad_and_the_hall_board():
    cfg = bus(
        devices=[
            {"address": 1, "kind": "window", "window": 1},
            {"address": 2, "kind": "window", "window": 2},
            {"address": 5, "kind": "keypad", "window": 1},
            {"address": 30, "kind": "hall", "rows": 2},
        ]
    )
    fake = FakeBus(cfg.frame, keypads={5})
    clock = Clock()
    hub = DisplayHub([cfg], on_key=lambda e: None, clock=clock, opener=fake.opener)
    worker = hub.workers["b1"]
    hub.window_changed(1, "called", "A012")
    hub.window_changed(2, "called", "B003")
    hub.window_changed(1, "serving", "A012")
    run(worker, clock, 8)
    assert fake.sim.screen(1) == "请A012到1号窗口"
    assert fake.sim.screen(2) == "请B003到2号窗口"
    assert fake.sim.screen(5) == "A012"
    assert fake.sim.screen(30) == "B003 请到2号窗口\nA012 请到1号窗口"
    hub.window_changed(1, "called", "A012")  # a recall puts window 1 back on top
    hub.window_changed(2, "paused", None)
    run(worker, clock, 8)
    assert fake.sim.screen(2) == "暂停服务"
    assert fake.sim.screen(30) == "A012 请到1号窗口\n"
    hub.window_changed(1, "idle", None)  # A012 finished, transferred or a no-show: the call is over
    run(worker, clock, 8)
    assert fake.sim.screen(1) == "1号窗口" and fake.sim.screen(30) == "\n"
    assert set(hub.status()) == {("b1", 1), ("b1", 2), ("b1", 5), ("b1", 30)}


def test_a_text_the_frame_cannot_carry_is_reported_on_the_device_not_the_bus():
    cfg = bus(
        "len-crc16",
        devices=[{"address": 1, "kind": "window", "window": 1}, {"address": 2, "kind": "window", "window": 2}],
    )
    worker, fake, clock, _ = make(cfg, keypads=())
    worker.show(1, "\n" * 300)  # 301 rows: more than the one-byte row field can number
    worker.show(2, "B001")
    run(worker, clock, 3)
    assert "text not sent: row 256 does not fit in 1 byte" in worker.status()[1].detail
    assert fake.sim.screen(2) == "B001" and worker.bus_status().state == "ok"


class UnpluggedPort:
    """A USB-serial port whose adapter was pulled out: every write fails the way Linux says so."""

    rs485_mode = None

    def write(self, data):
        raise termios.error(5, "Input/output error")

    def read(self, size=1):
        return b""

    def reset_input_buffer(self):
        raise termios.error(5, "Input/output error")

    def close(self):
        pass


def test_an_unplugged_port_is_one_warning_line_without_a_traceback(caplog):
    cfg = bus(devices=[{"address": 1, "kind": "window", "window": 1}])
    clock = Clock()
    opened = []

    def opener(*_args, **_kwargs):
        if opened:  # once unplugged, the device node is gone too
            raise serial.SerialException("could not open port /dev/ttyUSB0: No such file or directory")
        opened.append(True)
        return UnpluggedPort()

    worker = BusWorker(cfg, lambda _event: None, clock=clock, opener=opener)
    worker.show(1, "请A001到1号窗口")
    with caplog.at_level("DEBUG", logger="tongban"):
        for _ in range(5):  # the first outage and four retries
            clock.t = max(clock.t, worker.run_once())
    assert worker.bus_status().state == "offline"
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "b1" in warnings[0].getMessage() and warnings[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= 40]  # no "unexpected error"
