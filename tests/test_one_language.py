"""One language at a time (issue 16, point 6): config strings have a zh field and an en field, and an
English line never carries a Chinese place or name from the hall file."""

from __future__ import annotations

import re

import pytest

from tongban.config import ConfigError, parse_hall_config

from .apiclient import make_hall_client
from .conftest import small_hall_doc
from .test_kiosk import confirm_form, kiosk, take, text
from .test_one_outlook import hall_doc, service_of

HAN = re.compile(r"[\u3400-\u9fff]")


def english_windows_line(html: str) -> str:
    """The English line under "办理窗口" on a Chinese kiosk ticket screen."""
    block = re.search(r'id="k-windows">(.*?)</div>', html, re.S).group(1)
    return re.search(r'class="k-windows-line"><span class="p">[^<]*</span><span class="s">([^<]*)<', block).group(1)


def hall_with(tmp_path, clock, **window_fields):
    doc = hall_doc()
    for window in doc["windows"]:
        window.update(window_fields)
    hall = make_hall_client(tmp_path, parse_hall_config(doc, "one-language"), clock)
    service = service_of(hall)
    service.window_action(1, "open", clerk="clerk1")
    service.store.close()
    return hall


@pytest.mark.parametrize(
    ("fields", "english"),
    [({"location_en": "2nd floor, south"}, "(2nd floor, south)"), ({}, None)],
)
def test_an_english_line_names_the_place_in_english_or_not_at_all(tmp_path, clock, fields, english):
    hall = hall_with(tmp_path, clock, location="二楼南区", **fields)
    client = kiosk(hall)
    html = text(take(client, {**confirm_form(client, "/kiosk/kiosk-1/lines/A"), "line": "A"}))
    line = english_windows_line(html)
    assert not HAN.search(line), line
    assert line.startswith("Window 1") and (english in line if english else "(" not in line)
    assert "1 号窗口（二楼南区）" in html  # the Chinese line keeps its place

    token = service_of(hall).waiting()[0].token
    status = text(client.get(f"/t/{token}?lang=en"))
    windows = re.sub(r"<[^>]+>", "", re.search(r'class="s-windows">(.*?)</p>', status, re.S).group(1))
    assert "window 1" in windows and not HAN.search(windows), windows
    assert (english in windows) if english else "(" not in windows


def test_an_english_field_with_chinese_in_it_is_refused_by_name():
    doc = small_hall_doc()
    doc["windows"][0]["location_en"] = "二楼 south"
    with pytest.raises(ConfigError) as refused:
        parse_hall_config(doc, "bad")
    assert "windows[0].location_en" in str(refused.value) and "English only" in str(refused.value)


def test_the_api_gives_both_languages_of_a_window(tmp_path, clock):
    hall = hall_with(tmp_path, clock, location="二楼南区", location_en="2nd floor, south", name_en="Services")
    body = next(w for w in hall.call("GET", "/windows", hall.kiosk).get_json() if w["number"] == 1)
    assert (body["location"], body["location_en"], body["name_en"]) == ("二楼南区", "2nd floor, south", "Services")


def test_notices_have_a_field_per_language_and_the_old_slash_form_still_loads():
    doc = small_hall_doc()
    doc["hall"]["notices"] = [
        {"zh": "午休暂停取号", "en": "No tickets at lunch"},
        "周六延时服务 / Open on Saturdays",
        "仅中文",
    ]
    notices = parse_hall_config(doc, "notices").hall.notices
    assert [(n.zh, n.en) for n in notices] == [
        ("午休暂停取号", "No tickets at lunch"),
        ("周六延时服务", "Open on Saturdays"),
        ("仅中文", ""),
    ]
    doc["hall"]["notices"] = [{"zh": "午休", "en": "午休 lunch"}, {"en": "no Chinese"}, 3]
    with pytest.raises(ConfigError) as refused:
        parse_hall_config(doc, "bad")
    problems = str(refused.value)
    assert "hall.notices[0].en" in problems and "hall.notices[1].zh" in problems and "hall.notices[2]" in problems


def test_device_alerts_name_the_device_and_its_state_in_words(tmp_path, clock):
    from tongban.queue import printing
    from tongban.queue.store import Store

    from .test_devices_process import BUS

    config = parse_hall_config({**small_hall_doc(), "buses": [BUS]}, "devices")
    names = printing.device_names(config)
    assert names["bus:east:1"] == ("1号窗口屏", "Window 1 display")
    assert names["bus:east:11"] == ("1号窗口呼叫器", "Window 1 keypad")
    store = Store(tmp_path / "alerts.db")
    printing.record_device_status(
        store, "bus:east:11", "display", "offline", "no reply to 5 polls", clock.now(), names=names
    )
    (alert,) = printing.open_alerts(store)
    store.close()
    assert (alert["message_zh"], alert["message_en"]) == ("1号窗口呼叫器离线", "Window 1 keypad: offline")
