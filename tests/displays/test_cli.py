"""`tongban displays presets|send|listen`, over loop:// and a socat pty pair."""

import os
import select
import threading
import time

from click.testing import CliRunner

from tests.tools.fake_displays import DeviceSimulator
from tongban.displays import get_preset, reply_frame
from tongban.displays.cli import displays

from .conftest import PtyDevice


def test_presets_lists_every_name():
    result = CliRunner().invoke(displays, ["presets"])
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.output.splitlines()] == ["len-crc16", "sum8-ff", "xor8-nul"]


def test_send_dry_run_prints_the_frame():
    result = CliRunner().invoke(
        displays, ["send", "--bus", "loop://", "--preset", "sum8-ff", "--address", "3", "--dry-run", "A012"]
    )
    assert result.exit_code == 0
    # same golden frame as test_presets: AA 03 01 "A012" sum D8 FF
    assert result.output == "AA 03 01 41 30 31 32 D8 FF\n"


def test_send_refuses_an_address_the_frame_cannot_carry():
    result = CliRunner().invoke(displays, ["send", "--bus", "loop://", "--preset", "sum8-ff", "--address", "300", "x"])
    assert result.exit_code != 0 and "address 300 does not fit in 1 byte" in result.output


def test_send_names_a_bus_it_cannot_open(tmp_path):
    missing = str(tmp_path / "ttyNONE")
    result = CliRunner().invoke(displays, ["send", "--bus", missing, "--preset", "sum8-ff", "--address", "3", "x"])
    assert result.exit_code != 0 and f"cannot open {missing}" in result.output


def _read_all(fd, want, timeout=3.0):
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            got += os.read(fd, 4096)
    return got


def test_send_puts_the_frame_on_the_wire(socat):
    fd = os.open(socat.b, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        result = CliRunner().invoke(
            displays, ["send", "--bus", socat.a, "--preset", "xor8-nul", "--address", "1", "暂停"]
        )
        assert result.exit_code == 0, result.output
        # golden frame from test_presets: 02 01 10 D4 DD 00 CD A3 00 | xor 74 | 03
        assert _read_all(fd, 11) == bytes.fromhex("02 01 10 D4 DD 00 CD A3 00 74 03")
    finally:
        os.close(fd)


def test_listen_polls_a_keypad_and_prints_its_key(socat):
    spec = get_preset("len-crc16")
    sim = DeviceSimulator(spec, keypads={15})
    device = PtyDevice(socat.b, sim)
    sim.press(15, "transfer", 2)
    try:
        result = CliRunner().invoke(
            displays,
            [
                "listen",
                "--bus",
                socat.a,
                "--preset",
                "len-crc16",
                "--poll",
                "15",
                "--interval-ms",
                "50",
                "--count",
                "2",
                "--seconds",
                "5",
            ],
        )
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == ["keypad 15: transfer 2", "keypad 15: (no key)"]
    finally:
        device.close()


def test_listen_without_polling_decodes_what_it_hears(socat):
    spec = get_preset("sum8-ff")
    fd = os.open(socat.b, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    out = {}

    def run():
        out["result"] = CliRunner().invoke(
            displays, ["listen", "--bus", socat.a, "--preset", "sum8-ff", "--raw", "--count", "1", "--seconds", "5"]
        )

    t = threading.Thread(target=run)
    t.start()
    try:
        # keep talking until the listener (which flushes its input when it opens) has heard one
        while t.is_alive():
            os.write(fd, b"\x13noise" + reply_frame(spec, 7, "recall"))
            time.sleep(0.05)
        t.join()
        result = out["result"]
        assert result.exit_code == 0, result.output
        # AA 07 85 02 00 | sum 07+85+02 = 8E | FF
        assert result.output == "keypad 7: recall  [AA 07 85 02 00 8E FF]\n"
    finally:
        os.close(fd)
