"""Public pages without login (docs/kiosk.md): /info (matters and windows directory) and /t/<token>."""

from __future__ import annotations

import re

import pytest

from tongban.config import load_hall_config
from tongban.queue.service import HallService
from tongban.queue.store import Store

from .apiclient import make_hall_client

DEMO = load_hall_config("config/demo-hall.toml")


@pytest.fixture
def demo(tmp_path, clock):
    return make_hall_client(tmp_path, DEMO, clock)


def text(response) -> str:
    return response.get_data(as_text=True)


def service_of(hall) -> HallService:
    return HallService(Store(hall.app.config["DATABASE"]), hall.app.config["HALL"], hall.app.config["CLOCK"])


def test_info_lists_the_58_matters_of_the_demo_hall_by_department_and_batch(demo):
    response = demo.app.test_client().get("/info")
    html = text(response)
    assert response.status_code == 200
    assert len(set(re.findall(r'data-matter="([^"]+)"', html))) == 58
    assert "共 58 项" in html
    for dept in DEMO.departments:
        assert f'data-dept="{dept.code}"' in html and dept.name_zh in html
    assert "第1批" in html
    # Each matter carries its guide: materials, time limit, fee, how, and the kiosk line to choose.
    guide = html[html.index('data-matter="RSJ-006"') :]
    guide = guide[: guide.index("</details>")]
    assert "失业登记" in guide and "居民身份证原件" in guide and "当场办结" in guide and "不收费" in guide
    assert "取号时选择" in guide and "人社业务" in guide


def test_info_publishes_every_cross_province_window_of_the_district(demo):
    html = text(demo.app.test_client().get("/info"))
    for window in DEMO.windows:
        assert f'data-window="{window.number}"' in html and window.phone in html
    assert html.count("data-district-window") == len(DEMO.district_windows) == 4
    for other in DEMO.district_windows:
        assert other.phone in html and other.address in html and other.hours in html and other.window in html
    assert DEMO.hall.address in html and "08:30-12:00, 14:00-17:30" in html


def test_info_search_by_pinyin_or_name_answers_a_fragment_to_htmx(demo):
    client = demo.app.test_client()
    fragment = text(client.get("/info?q=sydj", headers={"HX-Request": "true"}))
    assert "<html" not in fragment and "失业登记" in fragment and "找到" in fragment
    assert 'data-matter="RSJ-006"' in fragment and 'data-matter="SCJG-001"' not in fragment
    by_name = text(client.get("/info?q=公积金"))
    assert "<!doctype html>" in by_name.lower() and 'data-matter="GJJ-001"' in by_name
    english = text(client.get("/info?q=pension&lang=en"))
    assert "Cross-province services" in english and 'data-matter="RSJ-001"' in english
    assert "没有找到" in text(client.get("/info?q=nothingatall"))


def test_status_page_shows_place_and_estimate_but_no_id_or_personal_data(demo):
    service = service_of(demo)
    for window in service.config.windows:
        service.window_action(window.number, "open", clerk=f"clerk{window.number}")
    tickets = [service.take_ticket(line="B", kiosk="kiosk-1").ticket for _ in range(3)]
    third = tickets[2]
    client = demo.app.test_client()
    response = client.get(f"/t/{third.token}")
    html = text(response)
    assert response.status_code == 200
    assert "B003" in html and "人社业务" in html
    assert re.search(r'id="s-ahead">2<', html) and "分钟" in html and "号窗口" in html
    assert "kiosk-1" not in html and f"/t/{third.id}" not in html and "号票编号" not in html
    assert 'sse-connect="/t/' in html and 'sse-swap="status"' in html
    assert client.get(f"/t/{third.id}").status_code == 404  # ids do not open it


def test_status_page_follows_the_ticket_to_the_window(demo):
    service = service_of(demo)
    ticket = service.take_ticket(line="B").ticket
    service.window_action(4, "open", clerk="clerk4")
    service.call_next(4, clerk="clerk4")
    client = demo.app.test_client()
    called = text(client.get(f"/t/{ticket.token}", headers={"HX-Request": "true"}))
    assert "<html" not in called and "请到 4 号窗口办理" in called and "一楼西区" in called
    assert "clerk4" not in called
    service.act(ticket.id, "start", window=4)
    assert "正在 4 号窗口办理" in text(client.get(f"/t/{ticket.token}"))
    assert "Being served at window 4" in text(client.get(f"/t/{ticket.token}?lang=en"))
    service.act(ticket.id, "finish", window=4)
    assert "已办结" in text(client.get(f"/t/{ticket.token}"))


def test_status_page_offers_alerts_after_one_tap_with_its_script_from_the_hall(demo):
    """Vibration and a chime need the citizen's tap (static/js/status.js); the page gives the script
    what to watch: the state, the recalls and the people ahead."""
    service = service_of(demo)
    first = service.take_ticket(line="B").ticket
    ticket = service.take_ticket(line="B").ticket
    client = demo.app.test_client()
    html = text(client.get(f"/t/{ticket.token}"))
    assert 'id="s-alerts"' in html and 'data-alerts="off"' in html and "开启叫号提醒（振动和提示音）" in html
    assert "还剩 3 人和叫到您的号时" in html
    assert '<script src="/static/js/status.js" defer></script>' in html and "<script>" not in html
    assert 'data-state="waiting" data-recalls="0"' in html and 'data-ahead="1"' in html
    assert demo.app.test_client().get("/static/js/status.js").status_code == 200
    assert "Alert me when I am called" in text(client.get(f"/t/{ticket.token}?lang=en"))
    # A ticket that is over has nothing to alert.
    service.act(first.id, "cancel")
    assert 'id="s-alerts"' not in text(client.get(f"/t/{first.token}"))


def test_a_bad_or_missing_token_is_404_with_a_readable_page(demo):
    client = demo.app.test_client()
    for path in ("/t/not-a-token", "/t/" + "x" * 100):
        response = client.get(path)
        assert response.status_code == 404 and "没有这张号票" in text(response)
    assert client.get("/t/not-a-token/live").status_code == 404


def test_status_stream_sends_the_state_first(demo):
    ticket = service_of(demo).take_ticket(line="A").ticket
    response = demo.app.test_client().get(f"/t/{ticket.token}/live", buffered=False)
    chunks = iter(response.response)
    assert next(chunks).decode().startswith("retry:")
    first = next(chunks).decode()
    assert first.startswith("event: status\n") and "A001" in first
    response.close()


def test_public_pages_need_no_login(demo):
    client = demo.app.test_client()
    assert client.get("/info").status_code == 200
    assert client.get("/").headers["Location"].endswith("/info")
