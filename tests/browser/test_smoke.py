"""The server comes up under gunicorn and chromium can sign a clerk in."""

from .conftest import login, screenshot


def test_clerk_signs_in_through_chromium(live_hall, new_page):
    page = new_page(1280, 800)
    login(page, live_hall.url, "clerk1", window=1)
    assert page.url.endswith("/window/1")
    screenshot(page, "smoke-console")
