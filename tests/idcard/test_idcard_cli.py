"""`tongban idcard test URL`: one card read and printed masked; each fault an exit code and words."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.tools.fake_idcard import FakeReader, FakeReaderServer
from tongban.cli import main
from tongban.idcard import cli as idcard_cli
from tongban.idcard.demo import demo_cards

ELDERLY = demo_cards()["elderly"]


def run(*args: str):
    return CliRunner().invoke(main, ["idcard", "test", *args])


@pytest.fixture
def fast_polls(monkeypatch):
    monkeypatch.setattr(idcard_cli, "POLL_S", 0.01)


def test_reads_the_dummy_card_masked():
    result = run("dummy://?card=elderly")
    assert result.exit_code == 0, result.output
    assert "3201**********0020" in result.output
    assert f"{ELDERLY.name[0]}**" in result.output
    assert "1948" in result.output
    assert ELDERLY.id_number not in result.output
    assert ELDERLY.name not in result.output
    assert ELDERLY.address not in result.output


def test_reads_a_card_over_tcp():
    fake = FakeReader(demo_cards()["young"])
    server = FakeReaderServer(fake)
    try:
        result = run(server.url)
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert "4403**********0019" in result.output
    assert "440306200407180019" not in result.output


def test_no_card_within_the_wait(fast_polls):
    result = run("dummy://", "--wait", "0.05")
    assert result.exit_code == idcard_cli.EXIT_NO_CARD
    assert "没有身份证" in result.output and "No ID card" in result.output


def test_an_unreachable_reader(tmp_path):
    result = run(f"serial://{tmp_path}/ttyUSB7")
    assert result.exit_code == idcard_cli.EXIT_GONE
    assert "无法连接身份证阅读器" in result.output and "Cannot reach the ID-card reader" in result.output


def test_a_reader_that_vanishes_mid_read():
    fake = FakeReader(ELDERLY)
    server = FakeReaderServer(fake)
    fake.fault = "silent"
    server.vanish()
    result = run(server.url)
    assert result.exit_code == idcard_cli.EXIT_GONE


@pytest.mark.parametrize("fault", ["read_error", "bad_check"])
def test_a_failed_read(fault):
    fake = FakeReader(ELDERLY)
    fake.fault = fault
    server = FakeReaderServer(fake)
    try:
        result = run(server.url)
    finally:
        server.close()
    assert result.exit_code == idcard_cli.EXIT_READ
    assert ELDERLY.id_number not in result.output


@pytest.mark.parametrize("url", ["ttyUSB0", "serial:///dev/ttyUSB1?baudrate=7", "dummy://?card=nobody", "http://x"])
def test_a_bad_url_is_a_usage_error(url):
    result = run(url)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_help_lists_the_command():
    result = CliRunner().invoke(main, ["idcard", "--help"])
    assert result.exit_code == 0 and "test" in result.output
