"""Shared fixtures: a small hall, a fake clock on a weekday morning, a temp-file store."""

from __future__ import annotations

import copy
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher

from tongban.config import parse_hall_config
from tongban.queue import accounts as auth
from tongban.queue.clock import FakeClock
from tongban.queue.service import HallService
from tongban.queue.store import Store

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

SMALL_HALL = {
    "hall": {
        "id": "test-hall",
        "name_zh": "测试大厅",
        "name_en": "Test Hall",
        "address": "测试路1号",
        "phone": "0571-00000000",
        "timezone": "Asia/Shanghai",
        "hours": {d: ["08:30-12:00", "14:00-17:30"] for d in ("mon", "tue", "wed", "thu", "fri")},
        "late_return_behind": 2,
        "max_recalls": 2,
    },
    "departments": [
        {"code": "rsj", "name_zh": "人社局", "name_en": "HR and Social Security"},
        {"code": "gjj", "name_zh": "公积金中心", "name_en": "Provident Fund Centre"},
    ],
    "matters": [
        {
            "code": "M1",
            "name_zh": "失业登记",
            "name_en": "Unemployment registration",
            "department": "rsj",
            "batch": 1,
            "mode": "on-site",
            "time_limit_days": 0,
            "fee": "不收费 / Free",
            "materials": ["身份证"],
        },
        {
            "code": "M2",
            "name_zh": "养老保险关系转移接续",
            "name_en": "Pension transfer",
            "department": "rsj",
            "batch": 1,
            "mode": "multi-place",
            "time_limit_days": 15,
            "fee": "不收费 / Free",
            "materials": ["身份证"],
        },
        {
            "code": "M3",
            "name_zh": "正常退休提取住房公积金",
            "name_en": "Provident fund withdrawal on retirement",
            "department": "gjj",
            "batch": 1,
            "mode": "proxy",
            "time_limit_days": 3,
            "fee": "不收费 / Free",
            "materials": ["身份证", "退休证"],
        },
    ],
    "lines": [
        {
            "prefix": "A",
            "name_zh": "人社业务",
            "name_en": "Social security",
            "matters": ["M1", "M2"],
            "daily_quota": 50,
            "last_issue": "16:30",
        },
        {"prefix": "B", "name_zh": "公积金", "name_en": "Provident fund", "matters": ["M3"], "daily_quota": 5},
    ],
    "windows": [
        {"number": 1, "name": "1号窗口", "location": "一楼", "phone": "0571-1", "able": ["A", "B"], "serving": ["A"]},
        {
            "number": 2,
            "name": "2号窗口",
            "location": "一楼",
            "phone": "0571-2",
            "able": ["A", "B"],
            "serving": ["B", "A"],
        },
    ],
}


def small_hall_doc() -> dict:
    return copy.deepcopy(SMALL_HALL)


@pytest.fixture
def hall_config():
    return parse_hall_config(small_hall_doc(), "small-hall")


@pytest.fixture
def clock():
    # A Thursday, 09:00 in Shanghai.
    return FakeClock(datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "hall.db")
    yield s
    s.close()


@pytest.fixture
def service(store, hall_config, clock):
    svc = HallService(store, hall_config, clock)
    svc.sync_with_config()
    return svc


@pytest.fixture(autouse=True)
def cheap_password_hashes(request, monkeypatch):
    """Argon2 at production cost is ~0.1 s per hash (more on a loaded machine) and would be most of
    the suite's time. Tests hash with the same algorithm at a low cost (a stored hash carries its own
    cost, so a server started by a test verifies these too); tests marked ``production_hashing``
    keep the real cost."""
    if request.node.get_closest_marker("production_hashing") is None:
        monkeypatch.setattr(auth, "_hasher", CHEAP_HASHER)


def wait_for(predicate, timeout=5.0, interval=0.01) -> bool:
    """Poll until ``predicate()`` is true (devices answer on their own threads); its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the whole run (tests/pgcluster.py), started on first use."""
    from .pgcluster import PgCluster

    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def district_template(pg_cluster) -> str:
    """A migrated district database made once; each test gets a copy of it (district_url)."""
    from tongban.district import db

    from .pgcluster import database_name

    url = pg_cluster.new_database("template")
    db.migrate(url)
    return database_name(url)


@pytest.fixture
def district_url(pg_cluster, district_template):
    """A fresh, migrated district database of its own for one test, dropped after it (a copy of the
    session's template: migrating each one costs more than the test)."""
    url = pg_cluster.new_database(template=district_template)
    yield url
    pg_cluster.drop_database(url)
