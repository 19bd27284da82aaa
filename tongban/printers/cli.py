"""`tongban printers …`: for whoever installs a kiosk printer, before any ticket depends on it."""

from __future__ import annotations

import dataclasses

import click

from .config import MODES, PrinterConfig, parse_printer_config
from .encoding import ENCODINGS
from .errors import PrinterError
from .image_mode import render_ticket_image
from .service import check_status, print_ticket
from .slip import TicketSlip, demo_slip
from .ticket import printer_warnings


def printer_test_slip(cfg: PrinterConfig) -> TicketSlip:
    """The demo ticket plus the settings under test, and the characters that break first
    when the encoding is wrong, so a glance at the paper tells the installer what to fix."""
    cut = "cut" if cfg.cut else "no cut"
    return dataclasses.replace(
        demo_slip(),
        reminders=[
            f"打印测试：{cfg.paper_mm} 毫米，{cfg.encoding}，{'文本' if cfg.mode == 'text' else '图像'}模式。",
            f"Printer test: {cfg.paper_mm} mm, {cfg.encoding}, {cfg.mode} mode, {cut}.",
            "全角标点：（），。；：！？“”《》、",
        ],
    )


@click.group("printers")
def printers() -> None:
    """Ticket printers: print a test ticket, preview the layout."""


@printers.command("test")
@click.argument("url")
@click.option("--paper", type=click.Choice(["58", "80"]), default="80", show_default=True, help="paper width, mm")
@click.option("--encoding", type=click.Choice(ENCODINGS), default="gb18030", show_default=True)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="text",
    show_default=True,
    help="text: the printer has a Chinese font; image: it does not",
)
@click.option("--no-cut", is_flag=True, help="the printer has no cutter")
@click.option("--timeout", "timeout_s", type=float, default=5.0, show_default=True, help="seconds")
def test_cmd(url: str, paper: str, encoding: str, mode: str, no_cut: bool, timeout_s: float) -> None:
    """Check the status of the printer at URL and print a test ticket on it.

    URL is tcp://host:9100, serial:///dev/ttyUSB0?baudrate=9600, usb://VID:PID,
    file:///dev/usb/lp0, cups://queue or dummy://.
    """
    entry = {
        "id": "cli-test",
        "url": url,
        "paper_mm": int(paper),
        "encoding": encoding,
        "mode": mode,
        "cut": not no_cut,
        "timeout_s": timeout_s,
    }
    cfg, errors = parse_printer_config(entry, "printer")
    if errors:
        for e in errors:
            click.echo(e, err=True)
        raise SystemExit(2)
    assert cfg is not None
    for w in printer_warnings(cfg):
        click.echo(f"warning: {w}", err=True)
    st = check_status(cfg)
    click.echo(f"status: {st.state} ({st.detail})")
    outcome = print_ticket(cfg, printer_test_slip(cfg))
    for w in outcome.warnings:
        click.echo(f"warning: {w}", err=True)
    if outcome.ok:
        click.echo("printed: check the number is large, the punctuation full-width, the QR scannable")
    else:
        click.echo(f"not printed: {outcome.status}: {outcome.error}", err=True)
        raise SystemExit(1)


@printers.command("preview")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True), help="PNG file to write")
@click.option("--paper", type=click.Choice(["58", "80"]), default="80", show_default=True, help="paper width, mm")
@click.option("--reprint", is_flag=True, help="show the 补打 (reprint) marking")
def preview_cmd(out: str, paper: str, reprint: bool) -> None:
    """Render the demo ticket as an image (what image-mode printers print)."""
    cfg = PrinterConfig(id="preview", url="dummy://", paper_mm=int(paper), mode="image")
    slip = dataclasses.replace(demo_slip(), reprint=reprint)
    try:
        img = render_ticket_image(cfg, slip)
    except PrinterError as e:
        raise click.ClickException(str(e)) from e
    img.save(out, format="PNG")
    click.echo(f"wrote {out} ({img.width}x{img.height} dots, {paper} mm)")
