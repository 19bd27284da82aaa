"""The manager sees a nearly full disk on the console before backups start failing."""

from __future__ import annotations

from dataclasses import replace

from .apiclient import make_hall_client
from .test_cases_pages import sign_in


def test_a_nearly_full_disk_is_shown_on_the_manager_console(tmp_path, hall_config, clock):
    (tmp_path / "roomy").mkdir()
    (tmp_path / "tight").mkdir()
    roomy = make_hall_client(tmp_path / "roomy", hall_config, clock)
    assert "data-disk=" not in sign_in(roomy, "manager").get("/manage/").get_data(as_text=True)
    # No test machine has a petabyte free: with that threshold every disk is "nearly full".
    tight = replace(hall_config, operations=replace(hall_config.operations, disk_warn_mb=10**9))
    hall = make_hall_client(tmp_path / "tight", tight, clock)
    page = sign_in(hall, "manager").get("/manage/").get_data(as_text=True)
    assert 'data-disk="database"' in page
