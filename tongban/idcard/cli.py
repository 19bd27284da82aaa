"""`tongban idcard test URL`: for whoever installs a kiosk's ID-card reader, before a citizen uses it.

Prints the card masked, as every screen shows it (王**, 3201**********0020): the installer learns
that the reader, the cable and the baud rate work without the test putting a number on a terminal
or in a shell history's scrollback.
"""

from __future__ import annotations

import sys
import time

import click

from ..queue.masking import mask_id, mask_name
from ..texts import text
from .config import parse_reader_url
from .drivers import open_reader
from .errors import IdcardConfigError, IdcardError, NoCard
from .frames import Card
from .reader import CardReader

EXIT_NO_CARD = 3
EXIT_GONE = 4
EXIT_READ = 5
POLL_S = 0.3


def both(key: str, **values) -> str:
    return f"{text(key, 'zh', **values)} / {text(key, 'en', **values)}"


def masked_lines(card: Card) -> list[str]:
    sex = f"idcard_sex_{card.sex}" if card.sex in ("1", "2") else "idcard_sex_other"
    end = card.valid_to.isoformat() if card.valid_to else both("idcard_cli_long_term")
    return [
        f"{both('idcard_cli_name')}: {mask_name(card.name)}",
        f"{both('idcard_cli_id')}: {mask_id(card.id_number)}",
        f"{both('idcard_cli_sex')}: {both(sex)}",
        f"{both('idcard_cli_birth_year')}: {card.birth_date.year}",
        f"{both('idcard_cli_ethnicity')}: {card.ethnicity or '-'}",
        f"{both('idcard_cli_valid')}: {card.valid_from.isoformat()} - {end}",
    ]


def fail(exc: IdcardError, code: int) -> None:
    click.echo(f"{exc.message_zh}\n{exc.message_en}", err=True)
    if exc.detail:
        click.echo(f"({exc.code}: {exc.detail})", err=True)
    sys.exit(code)


@click.group("idcard")
def idcard() -> None:
    """ID-card readers (二代身份证): read a card to test a reader."""


@idcard.command("test")
@click.argument("url")
@click.option("--wait", "wait_s", type=click.FloatRange(0, 600), default=15.0, show_default=True, help="seconds")
def test_cmd(url: str, wait_s: float) -> None:
    """Read one card from the reader at URL and print it masked.

    URL is serial:///dev/ttyUSB1?baudrate=115200, socket://host:port or dummy://?card=elderly.
    Exit status: 0 read, 2 bad URL, 3 no card within --wait, 4 reader not reachable, 5 read failed.
    """
    try:
        target = parse_reader_url(url)
    except IdcardConfigError as exc:
        raise click.BadParameter("; ".join(exc.errors), param_hint="URL") from None
    click.echo(both("idcard_cli_waiting", seconds=f"{wait_s:g}"))
    try:
        driver = open_reader(target)
    except IdcardError as exc:
        fail(exc, EXIT_GONE)
        return
    try:
        reader = CardReader(driver)
        end = time.monotonic() + wait_s
        while not reader.find():
            if time.monotonic() >= end:
                raise NoCard(f"none within {wait_s:g} s")
            time.sleep(POLL_S)
        card = reader.read()
    except NoCard as exc:
        fail(exc, EXIT_NO_CARD)
        return
    except IdcardError as exc:
        fail(exc, EXIT_GONE if exc.state == "offline" else EXIT_READ)
        return
    finally:
        driver.close()
    click.echo(both("idcard_cli_read"))
    for line in masked_lines(card):
        click.echo(f"  {line}")
