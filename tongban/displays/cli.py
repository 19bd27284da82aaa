"""`tongban displays …`: what a technician needs at the bus with a laptop.

`presets` lists the frame formats, `send` puts one text on one display, `listen` prints what
keypads say (and, with --poll, asks them, for a bus with no other master on it). Stop the devices
process first: RS-485 has room for one master.
"""

from __future__ import annotations

import time

import click
import serial
from serial.rs485 import RS485Settings

from .config import PARITIES
from .errors import FrameError
from .frames import FrameDecoder, decode_key, decode_text, hexdump, is_reply, poll_frame, text_frames
from .presets import PRESETS, get_preset


def _bus_options(f):
    f = click.option("--rs485", is_flag=True, help="Kernel RS-485 direction control (RTS while sending).")(f)
    f = click.option(
        "--parity", default="N", show_default=True, type=click.Choice(sorted(PARITIES), case_sensitive=False)
    )(f)
    f = click.option("--baudrate", default=9600, show_default=True, type=int)(f)
    f = click.option(
        "--preset",
        required=True,
        type=click.Choice(sorted(PRESETS)),
        help="Frame format (see `tongban displays presets`).",
    )(f)
    f = click.option("--bus", "url", required=True, help="pyserial URL: /dev/ttyUSB0, socket://host:port, loop://")(f)
    return f


def _open(url: str, baudrate: int, parity: str, rs485: bool, timeout: float):
    try:
        port = serial.serial_for_url(
            url, baudrate=baudrate, parity=PARITIES[parity], timeout=timeout, write_timeout=2.0
        )
        if rs485:
            port.rs485_mode = RS485Settings(rts_level_for_tx=True, rts_level_for_rx=False)
        return port
    except (serial.SerialException, OSError, ValueError) as e:
        raise click.ClickException(f"cannot open {url}: {e}") from e


@click.group("displays")
def displays():
    """Serial window displays (窗口屏), hall boards (综合屏) and caller keypads (呼叫器)."""


@displays.command("presets")
def presets_cmd():
    """List the frame presets by name."""
    for name in sorted(PRESETS):
        click.echo(f"{name}\t{PRESETS[name].description}")


@displays.command("send")
@_bus_options
@click.option("--address", required=True, type=int, help="The display's bus address.")
@click.option("--dry-run", is_flag=True, help="Print the frames without opening the bus.")
@click.argument("text")
def send_cmd(url, preset, baudrate, parity, rs485, address, dry_run, text):
    """Show TEXT on the display at --address ("\\n" starts a new row on a hall board)."""
    spec = get_preset(preset)
    text = text.replace("\\n", "\n")
    try:
        frames = text_frames(spec, address, text)
    except FrameError as e:
        raise click.ClickException(str(e)) from e
    if dry_run:
        for f in frames:
            click.echo(hexdump(f))
        return
    port = _open(url, baudrate, parity, rs485, timeout=0.5)
    try:
        for i, f in enumerate(frames):
            if i:
                time.sleep(spec.pacing_ms / 1000)
            port.write(f)
            port.flush()
            click.echo(hexdump(f))
    except (serial.SerialException, OSError) as e:
        raise click.ClickException(f"write to {url} failed: {e}") from e
    finally:
        port.close()


@displays.command("listen")
@_bus_options
@click.option(
    "--poll",
    "poll_addresses",
    multiple=True,
    type=int,
    help="Poll this keypad address (repeatable); without it, only listen.",
)
@click.option("--interval-ms", default=200, show_default=True, type=int, help="Time between polls.")
@click.option("--all", "show_all", is_flag=True, help="Also print host frames (texts, polls).")
@click.option("--raw", is_flag=True, help="Print each frame's bytes too.")
@click.option("--count", type=int, default=0, help="Stop after this many printed frames (0: never).")
@click.option("--seconds", type=float, default=0.0, help="Stop after this long (0: never).")
def listen_cmd(url, preset, baudrate, parity, rs485, poll_addresses, interval_ms, show_all, raw, count, seconds):
    """Print decoded keypad frames heard on the bus until Ctrl-C."""
    spec = get_preset(preset)
    if poll_addresses and spec.reply is None:
        raise click.ClickException(f"{preset} has no keypad reply format")
    port = _open(url, baudrate, parity, rs485, timeout=0.05)
    dec = FrameDecoder(spec)
    printed = 0
    sent: set[bytes] = set()
    start = time.monotonic()
    next_poll = start
    turn = 0
    try:
        while True:
            now = time.monotonic()
            if seconds and now - start >= seconds:
                break
            if poll_addresses and now >= next_poll:
                frame = poll_frame(spec, poll_addresses[turn % len(poll_addresses)])
                turn += 1
                sent.add(frame)
                port.write(frame)
                port.flush()
                next_poll = now + interval_ms / 1000 / len(poll_addresses)
            data = port.read(max(1, port.in_waiting))
            for f in dec.feed(data):
                line = _describe(spec, f, echo=f.raw in sent)
                if line is None and not show_all:
                    continue
                line = line or _describe_host(spec, f)
                click.echo(f"{line}  [{hexdump(f.raw)}]" if raw else line)
                printed += 1
                if count and printed >= count:
                    return
    except KeyboardInterrupt:
        pass
    except (serial.SerialException, OSError) as e:
        raise click.ClickException(f"{url}: {e}") from e
    finally:
        port.close()


def _describe(spec, f, echo: bool) -> str | None:
    if echo or not is_reply(spec, f):
        return None
    try:
        key, arg = decode_key(spec, f)
    except FrameError as e:
        return f"keypad {f.address}: {e}"
    if key is None:
        return f"keypad {f.address}: (no key)"
    return f"keypad {f.address}: {key}" + (f" {arg}" if arg is not None else "")


def _describe_host(spec, f) -> str:
    if spec.command is not None and f.command == spec.poll_command:
        return f"host -> {f.address}: poll"
    text = decode_text(spec, f.payload).replace("\r", "\\r")
    row = f" row {f.row}" if spec.row is not None else ""
    return f"host -> {f.address}{row}: {text!r}"
