"""The hall file's [operations] table (docs/config.md) is checked like every other table."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from tests.conftest import small_hall_doc
from tongban.config import ConfigError, Operations, parse_hall_config


def _parse(operations):
    doc = small_hall_doc()
    if operations is not None:
        doc["operations"] = operations
    return parse_hall_config(doc, "hall.toml")


def test_defaults_without_the_table():
    ops = _parse(None).operations
    assert ops == Operations()
    assert (ops.backup_dir, ops.keep, ops.backup_time, ops.disk_warn_mb) == ("backups", 14, time(2, 30), 500)


def test_values_are_read():
    ops = _parse(
        {
            "backup_dir": "/media/usb/tongban",
            "keep": 30,
            "backup_time": "23:15",
            "disk_warn_mb": 2000,
            "kiosk_max_per_minute": 6,
        }
    ).operations
    assert ops == Operations("/media/usb/tongban", 30, time(23, 15), 2000, 6)


def test_backup_dir_is_absolute_or_beside_the_database(tmp_path):
    assert Operations(backup_dir="/media/usb").backup_path(tmp_path / "t.db") == Path("/media/usb")
    assert Operations().backup_path(tmp_path / "t.db") == tmp_path / "backups"


@pytest.mark.parametrize(
    "table, problem",
    [
        ({"keep": 0}, "operations.keep: is 0 (expected 1 or more)"),
        ({"keep": "7"}, "operations.keep: is a string ('7') (expected a whole number)"),
        ({"backup_time": "25:00"}, "operations.backup_time: '25:00' is not a time (expected 'HH:MM')"),
        ({"backup_time": 230}, "operations.backup_time: is a number (230) (expected a string)"),
        ({"disk_warn_mb": True}, "operations.disk_warn_mb: is a boolean (true) (expected a whole number)"),
        ({"backup_dir": " "}, "operations.backup_dir: is empty (expected a folder path)"),
        ({"kiosk_max_per_minute": 0}, "operations.kiosk_max_per_minute: is 0 (expected 1 or more)"),
        (
            {"keeep": 3},
            "operations.keeep: unknown key (expected one of backup_dir, backup_time, disk_warn_mb, keep, "
            "kiosk_max_per_minute)",
        ),
    ],
)
def test_each_bad_value_names_the_field(table, problem):
    with pytest.raises(ConfigError) as exc:
        _parse(table)
    assert problem in exc.value.problems


def test_all_problems_at_once():
    with pytest.raises(ConfigError) as exc:
        _parse({"keep": -1, "disk_warn_mb": 0, "backup_time": "noon"})
    assert len([p for p in exc.value.problems if p.startswith("operations.")]) == 3


def test_not_a_table():
    with pytest.raises(ConfigError) as exc:
        _parse("nightly")
    assert "operations: is a string ('nightly') (expected a table)" in exc.value.problems
