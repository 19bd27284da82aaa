"""`tongban printers test URL` and `tongban printers preview --out FILE`."""

from click.testing import CliRunner
from PIL import Image

from tests.tools.escpos_decode import printed_text, ticket_view
from tests.tools.fake_printers import FakeNetworkPrinter
from tongban.printers.cli import printers
from tongban.printers.drivers.dummy import dummy_jobs


def run(*args):
    return CliRunner().invoke(printers, list(args), catch_exceptions=False)


def test_test_command_prints_a_test_ticket_on_a_dummy_printer():
    r = run("test", "dummy://bench", "--paper", "58")
    assert r.exit_code == 0, r.output
    assert "status: ok (ready)" in r.output and "printed" in r.output
    printed = "".join(printed_text(ticket_view(dummy_jobs("bench")[-1])))  # wrapped on 58 mm
    assert "打印测试：58 毫米，gb18030，文本模式。" in printed
    assert "全角标点：（），。；：！？“”《》、" in printed


def test_test_command_over_tcp_and_its_failure_exit_code():
    with FakeNetworkPrinter("ok") as printer:
        assert run("test", printer.url, "--timeout", "5").exit_code == 0
    with FakeNetworkPrinter("cover_open") as printer:
        r = run("test", printer.url, "--timeout", "5")
    assert r.exit_code == 1
    assert "status: cover_open (cover open)" in r.output
    assert "not printed: cover_open: not printed: cover open" in r.output


def test_test_command_rejects_a_bad_url_with_the_config_message():
    r = run("test", "serial:///dev/ttyUSB0?baudrate=9601")
    assert r.exit_code == 2
    assert "printer.url: baudrate=9601 is not allowed" in r.output


def test_preview_writes_the_demo_ticket_as_png(tmp_path):
    for paper, width in (("58", 384), ("80", 576)):
        out = tmp_path / f"ticket{paper}.png"
        r = run("preview", "--out", str(out), "--paper", paper)
        assert r.exit_code == 0, r.output
        with Image.open(out) as img:
            assert img.format == "PNG" and img.width == width
    r = run("preview", "--out", str(tmp_path / "reprint.png"), "--reprint")
    assert r.exit_code == 0
