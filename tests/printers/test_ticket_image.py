"""Image mode: the same layout drawn with Pillow, as wide as the paper, sent as raster bands."""

import pytest
from PIL import Image, ImageChops

from tests.tools.escpos_decode import Cut, Feed, Line, Raster, decode_escpos, ticket_view
from tests.tools.fake_printers import RecordingDriver
from tongban.printers import build_ticket_bytes, find_cjk_font, print_ticket, render_ticket_image
from tongban.printers.errors import PrinterFontError

from .conftest import config, slip


@pytest.fixture(scope="module", autouse=True)
def _needs_a_cjk_font():
    try:
        find_cjk_font()
    except PrinterFontError:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei)")


@pytest.mark.parametrize("mm, dots", [(58, 384), (80, 576)])
def test_image_width_matches_the_paper(mm, dots):
    img = render_ticket_image(config(paper_mm=mm, mode="image"), slip())
    assert img.mode == "1"
    assert img.width == dots
    assert 600 < img.height < 2000
    rasters = [
        x for x in ticket_view(build_ticket_bytes(config(paper_mm=mm, mode="image"), slip())) if isinstance(x, Raster)
    ]
    assert rasters and all(r.width_dots == dots for r in rasters)


def _reassemble(view, width):
    """Paper as the printer would produce it: raster rows, and white for ESC J feeds."""
    rows = []
    row_bytes = width // 8
    for x in view:
        if isinstance(x, Raster):
            rows += [x.data[i * row_bytes : (i + 1) * row_bytes] for i in range(x.height)]
        elif isinstance(x, Feed) and x.unit == "dots":
            rows += [bytes(row_bytes)] * x.amount
    # GS v 0 uses 1 = black; Pillow's "1" mode uses 1 = white
    return Image.frombytes("1", (width, len(rows)), bytes(b ^ 0xFF for b in b"".join(rows)))


@pytest.mark.parametrize("mm", [58, 80])
def test_raster_bands_and_white_feeds_reproduce_the_image_exactly(mm):
    cfg = config(paper_mm=mm, mode="image")
    view = ticket_view(build_ticket_bytes(cfg, slip()))
    assert any(isinstance(x, Feed) and x.unit == "dots" for x in view)  # white space was not sent as pixels
    assert all(r.height <= 256 for r in view if isinstance(r, Raster))
    paper = _reassemble(view, cfg.dots)
    drawn = render_ticket_image(cfg, slip())
    assert paper.size == drawn.size
    assert ImageChops.difference(paper.convert("L"), drawn.convert("L")).getbbox() is None


def test_image_job_has_no_text_and_ends_with_a_cut():
    data = build_ticket_bytes(config(mode="image"), slip())
    items = decode_escpos(data)
    assert items[0].cmd == "ESC @"
    assert not any(it.cmd == "text" for it in items)
    view = ticket_view(items)
    assert not any(isinstance(x, Line) for x in view)
    assert view[-1] == Cut((0,))


def test_reprint_image_is_taller_and_different():
    cfg = config(mode="image")
    plain, again = render_ticket_image(cfg, slip()), render_ticket_image(cfg, slip(reprint=True))
    assert again.height > plain.height


def test_no_cjk_font_is_a_failed_outcome_not_an_exception(monkeypatch, tmp_path):
    find_cjk_font.cache_clear()
    monkeypatch.setenv("TONGBAN_CJK_FONT", str(tmp_path / "missing.ttc"))
    try:
        drv = RecordingDriver()
        out = print_ticket(config(mode="image"), slip(), driver=drv)
        assert (out.ok, out.status) == (False, "error")
        assert "TONGBAN_CJK_FONT" in out.error
        assert drv.calls == []  # nothing reached the printer
    finally:
        monkeypatch.delenv("TONGBAN_CJK_FONT")
        find_cjk_font.cache_clear()


def test_image_mode_over_9600_baud_serial_warns_how_slow_it_is():
    from tongban.printers import printer_warnings

    warnings = printer_warnings(config("serial:///dev/ttyUSB0?baudrate=9600", mode="image", paper_mm=58))
    assert len(warnings) == 1 and "9600 baud" in warnings[0] and "KB" in warnings[0]
    assert printer_warnings(config("serial:///dev/ttyUSB0?baudrate=9600", mode="text")) == []
    assert printer_warnings(config("tcp://127.0.0.1:9100", mode="image")) == []


def test_raster_data_never_spells_a_real_time_command():
    from tongban.printers.image_mode import raster_command

    # a band whose first row is the bytes 10 04 01 ... (1 = black in GS v 0)
    row = bytes([0x10, 0x04, 0x01, 0x10, 0x05, 0x02, 0x10, 0x14, 0x01]) + bytes(39)
    band = Image.frombytes("1", (384, 1), bytes(b ^ 0xFF for b in row))
    cmd = raster_command(band)
    assert cmd[:8] == b"\x1dv0\x00" + bytes((48, 0, 1, 0))
    data = cmd[8:]
    assert b"\x10\x04" not in data and b"\x10\x05" not in data and b"\x10\x14" not in data
    # one pixel per pattern changed, nothing else
    assert sum(bin(a ^ b).count("1") for a, b in zip(data, row)) == 3
