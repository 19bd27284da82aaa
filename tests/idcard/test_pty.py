"""serial:// on a real tty: a socat pty pair, the fake reader on the far end (as tests/displays do).

Killing socat is pulling the USB-serial adapter; starting it again on the same path plugs it back.
"""

from __future__ import annotations

import pytest

from tests.conftest import small_hall_doc, wait_for
from tests.displays.conftest import PtyDevice, socat  # noqa: F401 - the socat fixture, shared
from tests.tools.fake_idcard import FakeReader
from tongban.config import parse_hall_config
from tongban.devices.idcard_worker import CardReaderWorker
from tongban.idcard.config import parse_reader_url
from tongban.idcard.demo import demo_cards
from tongban.idcard.drivers import open_reader
from tongban.idcard.errors import ReaderGone
from tongban.idcard.reader import CardReader

ELDERLY, YOUNG = demo_cards()["elderly"], demo_cards()["young"]


@pytest.fixture
def reader_on_pty(socat):  # noqa: F811 - the fixture imported above, by name
    fake = FakeReader(ELDERLY)
    device = PtyDevice(socat.b, fake)  # type: ignore[arg-type] - it only calls feed()
    yield socat, fake, device
    device.close()


def test_a_card_read_over_a_tty(reader_on_pty):
    pair, fake, _ = reader_on_pty
    driver = open_reader(parse_reader_url(f"serial://{pair.a}?baudrate=115200"))
    try:
        assert CardReader(driver).read_card() == ELDERLY
        assert fake.requests == [(0x20, 0x01), (0x20, 0x02), (0x30, 0x01)]
    finally:
        driver.close()


def test_pulling_the_cable_is_gone(reader_on_pty):
    pair, _, device = reader_on_pty
    driver = open_reader(parse_reader_url(f"serial://{pair.a}"))
    try:
        assert CardReader(driver).find()
        pair.kill()
        assert device.gone.wait(5)
        with pytest.raises(ReaderGone):
            CardReader(driver).find()
    finally:
        driver.close()
    with pytest.raises(ReaderGone):
        open_reader(parse_reader_url(f"serial://{pair.a}"))


def test_the_worker_reads_again_after_the_adapter_is_plugged_back(reader_on_pty, tmp_path, store, clock):
    pair, fake, device = reader_on_pty
    doc = small_hall_doc()
    doc["kiosks"] = [{"id": "k1", "name": "1", "idcard": f"serial://{pair.a}?baudrate=115200"}]
    hall = parse_hall_config(doc, "pty-hall")
    worker = CardReaderWorker(
        hall.kiosks[0], str(tmp_path / "hall.db"), hall, clock, poll_s=0.01, backoff_min_s=0.02, backoff_max_s=0.1
    )
    worker.start()
    replugged = None
    try:
        assert wait_for(lambda: worker.reads == 1)
        pair.kill()
        assert wait_for(lambda: worker.state == "offline")
        pair.start()
        fake2 = FakeReader(YOUNG)
        replugged = PtyDevice(pair.b, fake2)  # type: ignore[arg-type]
        assert wait_for(lambda: worker.reads == 2)
        assert worker.state == "ok"
    finally:
        worker.stop()
        if replugged is not None:
            replugged.close()
