"""The one QR builder: the SVG a phone scans has exactly the dark modules of the encoded code."""

import re

import pytest
import qrcode
import qrcode.constants

from tongban.web.qr import MASK_PATTERN, QUIET_ZONE, qr_svg


def drawn_cells(svg: str) -> set[tuple[int, int]]:
    path = re.search(r'<path fill="#000" d="([^"]*)"', svg).group(1)
    cells = set()
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", path):
        cells |= {(int(x) + i, int(y)) for i in range(int(run))}
    return cells


@pytest.mark.parametrize(
    "text",
    ["http://192.168.1.20/t/A0123-7f3kq9x8zp2m", "A001 社会保障卡补领 2026-12-06 09:00", "x" * 300],
)
def test_the_svg_draws_every_dark_module_and_nothing_else(text):
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=MASK_PATTERN)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    expected = {
        (x + QUIET_ZONE, y + QUIET_ZONE)
        for y, row in enumerate(code.get_matrix())
        for x, dark in enumerate(row)
        if dark
    }
    svg = qr_svg(text)
    assert drawn_cells(svg) == expected
    side = len(code.get_matrix()) + 2 * QUIET_ZONE
    assert f'viewBox="0 0 {side} {side}"' in svg  # the quiet zone is inside the picture


def test_a_standalone_image_has_a_size_and_text_is_escaped():
    svg = qr_svg('a"<b>', css_class="", size="34mm")
    assert 'width="34mm" height="34mm"' in svg and "class=" not in svg
    assert 'aria-label="a&quot;&lt;b&gt;"' in svg
