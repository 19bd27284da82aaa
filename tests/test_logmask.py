"""Masking personal numbers (queue/masking.py) and keeping them out of the logs (tongban/logmask.py).
The end-to-end check, a real `tongban serve` and `tongban devices` through a day's use, is
tests/fault/test_no_personal_data_in_logs.py."""

from __future__ import annotations

import logging
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from tongban.logmask import AccessLogger, MaskingFormatter, path_only
from tongban.queue.masking import mask_personal

ID = "32010219900101123X"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("13812345678", "138****5678"),
        ("call 138 1234 5678 or 138-1234-5678", "call 138****5678 or 138****5678"),
        ("+8613812345678", "+86138****5678"),
        (ID, "3201**********123X"),
        ('{"q": "320102199001011234"}', '{"q": "3201**********1234"}'),
        # Not personal numbers: left as they are.
        ("KS-20261126-001", "KS-20261126-001"),
        ("EA123456785CN 1012345678901", "EA123456785CN 1012345678901"),
        ("2026-11-26T01:02:03.123456+00:00", "2026-11-26T01:02:03.123456+00:00"),
        ("12345678901", "12345678901"),  # 11 digits, but no mobile number starts 12
    ],
)
def test_mask_personal(text, masked):
    assert mask_personal(text) == masked


def test_path_only():
    assert path_only("/cases?q=13812345678&state=open") == "/cases"
    assert path_only("/cases/13812345678") == "/cases/138****5678"
    assert path_only("/cases/%31%33%38%31%32%33%34%35%36%37%38") == "/cases/138****5678"
    assert path_only("http://hall:8000/cases?q=x") == "http://hall:8000/cases"
    assert path_only("/kiosk/k1/matters/%E5%A4%B1") == "/kiosk/k1/matters/%E5%A4%B1"  # untouched if nothing to mask


def test_the_access_log_keeps_paths_only():
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = AccessLogger(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/cases/export.csv?q={ID}",
        "PATH_INFO": "/cases/export.csv",
        "QUERY_STRING": f"q={ID}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_REFERER": "http://hall/cases?q=13812345678",
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    response = SimpleNamespace(status="200 OK", headers=[], sent=10)
    atoms = logger.atoms(response, request, environ, timedelta(seconds=0.01))
    assert atoms["r"] == "GET /cases/export.csv HTTP/1.1"
    assert atoms["q"] == "" and atoms["{query_string}e"] == ""
    assert atoms["f"] == atoms["{referer}i"] == "http://hall/cases"
    assert ID not in str(atoms) and "13812345678" not in str(atoms)


def test_log_lines_and_tracebacks_are_masked():
    try:
        raise ValueError(f"bad phone 13812345678 for {ID}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "case for %s", ("13987654321",), sys.exc_info())
    text = MaskingFormatter(logging.Formatter("%(message)s")).format(record)
    assert "139****4321" in text and "138****5678" in text and "3201**********123X" in text
    assert "13812345678" not in text and ID not in text and "13987654321" not in text
