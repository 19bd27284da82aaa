"""Every reader fault, through the protocol's one read (tongban/idcard/reader.py) and the transports.

The fake reader (tests/tools/fake_idcard.py) answers with the card and the fault each test chooses;
socket:// runs against it on a real TCP port, loop:// and a missing device through pyserial.
"""

from __future__ import annotations

import pytest

from tests.tools.fake_idcard import FakeReader, FakeReaderServer
from tongban.idcard import reader as reader_module
from tongban.idcard.config import parse_reader_url
from tongban.idcard.demo import demo_cards
from tongban.idcard.drivers import open_reader
from tongban.idcard.errors import (
    BadFrame,
    IdcardConfigError,
    ReaderGone,
    ReaderStatus,
    ReaderTimeout,
    ReadFailed,
    SelectFailed,
)
from tongban.idcard.reader import CardReader

ELDERLY = demo_cards()["elderly"]


@pytest.fixture
def fake():
    return FakeReader(ELDERLY, delay_s=0.6)


@pytest.fixture
def quick_waits(monkeypatch):
    # a slow reader is one slower than the wait: shorter waits keep the test short, not the fault
    monkeypatch.setattr(reader_module, "COMMAND_WAIT_S", 0.2)
    monkeypatch.setattr(reader_module, "READ_WAIT_S", 0.3)


def test_a_card_is_found_selected_and_read(fake):
    card = CardReader(fake.opener()).read_card()
    assert card == ELDERLY
    assert fake.requests == [(0x20, 0x01), (0x20, 0x02), (0x30, 0x01)]


def test_no_card(fake):
    fake.lift()
    assert CardReader(fake.opener()).read_card() is None
    assert fake.requests == [(0x20, 0x01)]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("read_error", ReadFailed),
        ("select_failed", SelectFailed),
        ("bad_check", BadFrame),
        ("garbage", BadFrame),
        ("status_66", ReaderStatus),
    ],
)
def test_faults_are_named_errors_with_words(fake, fault, error):
    fake.fault = fault
    with pytest.raises(error) as info:
        CardReader(fake.opener()).read_card()
    assert info.value.message_zh and info.value.message_en
    assert ELDERLY.id_number not in str(info.value)


@pytest.mark.parametrize("fault", ["slow", "silent"])
def test_a_slow_or_silent_reader_times_out(fake, fault, quick_waits):
    fake.fault = fault
    with pytest.raises(ReaderTimeout):
        CardReader(fake.opener()).find()


def test_a_late_answer_is_not_taken_for_the_next_one(fake, quick_waits):
    driver = fake.opener()
    fake.fault = "slow"
    with pytest.raises(ReaderTimeout):
        CardReader(driver).find()
    fake.fault = None
    assert CardReader(driver).read_card() == ELDERLY


def test_garbage_once_then_the_reader_is_read_again(fake):
    driver = fake.opener()
    fake.fault = "garbage"
    with pytest.raises(BadFrame):
        CardReader(driver).find()
    fake.fault = None
    assert CardReader(driver).read_card() == ELDERLY


def test_a_reader_that_vanishes(fake):
    driver = fake.opener()
    fake.unplug()
    with pytest.raises(ReaderGone) as info:
        CardReader(driver).find()
    assert info.value.state == "offline"
    with pytest.raises(ReaderGone):
        fake.opener()


def test_socket_reader_reads_a_card_in_pieces(fake):
    server = FakeReaderServer(fake)
    try:
        driver = open_reader(parse_reader_url(server.url))
        try:
            assert CardReader(driver).read_card() == ELDERLY
        finally:
            driver.close()
    finally:
        server.close()


def test_socket_reader_that_vanishes(fake):
    server = FakeReaderServer(fake)
    driver = open_reader(parse_reader_url(server.url))
    try:
        assert CardReader(driver).find()
        server.vanish()
        with pytest.raises(ReaderGone):
            CardReader(driver).find()
    finally:
        driver.close()
    with pytest.raises(ReaderGone):
        open_reader(parse_reader_url(server.url))


def test_socket_reader_with_a_bad_check_byte(fake):
    fake.fault = "bad_check"
    server = FakeReaderServer(fake)
    try:
        driver = open_reader(parse_reader_url(server.url))
        with pytest.raises(BadFrame):
            CardReader(driver).find()
        driver.close()
    finally:
        server.close()


def test_loop_port_hears_its_own_request_and_says_so():
    # pyserial's loop:// sends our request straight back: a frame, but no answer
    driver = open_reader(parse_reader_url("loop://"))
    try:
        with pytest.raises(BadFrame):
            CardReader(driver).find()
    finally:
        driver.close()


def test_a_missing_serial_device_is_gone(tmp_path):
    with pytest.raises(ReaderGone):
        open_reader(parse_reader_url(f"serial://{tmp_path}/ttyUSB9?baudrate=115200"))


def test_dummy_reader_reads_its_demo_card():
    driver = open_reader(parse_reader_url("dummy://?card=hk-resident"))
    assert CardReader(driver).read_card() == demo_cards()["hk-resident"]
    assert CardReader(open_reader(parse_reader_url("dummy://"))).read_card() is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ttyUSB1", "not an ID-card reader URL"),
        ("ftp://x", "scheme 'ftp' is not supported"),
        ("serial://", "serial:// needs a device"),
        ("serial:///dev/ttyUSB1?baudrate=12345", "baudrate='12345' is not allowed"),
        ("serial:///dev/ttyUSB1?baudrate=１１５２００", "is not allowed"),
        ("serial:///dev/ttyUSB1?parity=E", "unknown parameter 'parity'"),
        ("socket://host", "needs a host and a port"),
        ("socket://host:99999", "is not a number 1-65535"),
        ("dummy://?card=bob", "card='bob' is not a demo card"),
    ],
)
def test_bad_urls_say_what_is_wrong(url, words):
    with pytest.raises(IdcardConfigError) as info:
        parse_reader_url(url)
    assert words in str(info.value)


def test_good_urls():
    t = parse_reader_url("serial:///dev/ttyUSB1?baudrate=9600")
    assert (t.scheme, t.path, t.baudrate) == ("serial", "/dev/ttyUSB1", 9600)
    assert parse_reader_url("serial:///dev/ttyUSB1").baudrate == 115200
    t = parse_reader_url("socket://192.168.1.50:4001")
    assert (t.host, t.port) == ("192.168.1.50", 4001)
