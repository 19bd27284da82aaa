"""`tongban doctor` on the kiosks' ID-card readers: the port there, the worker's last state."""

from __future__ import annotations

from tests._toml import dumps
from tests.conftest import small_hall_doc
from tongban.config import load_hall_config
from tongban.ops.doctor import FAIL, OK, WARN, Doctor
from tongban.queue import printing
from tongban.queue.clock import SystemClock
from tongban.queue.service import HallService
from tongban.queue.store import Store


def test_doctor_checks_each_reader(tmp_path):
    doc = small_hall_doc()
    doc["kiosks"] = [
        {"id": "k-gone", "name": "1", "idcard": f"serial://{tmp_path}/dev/tongban/idcard-1"},
        {"id": "k-demo", "name": "2", "idcard": "dummy://?card=elderly"},
        {"id": "k-bad", "name": "3", "idcard": "dummy://?card=young"},
        {"id": "k-none", "name": "4"},
    ]
    config = tmp_path / "hall.toml"
    config.write_text(dumps(doc), encoding="utf-8")
    db = tmp_path / "tongban.db"
    store = Store(db)
    HallService(store, load_hall_config(config), SystemClock()).sync_with_config()
    printing.record_device_status(store, "idcard:k-bad", "idcard", "read_error", "bad_frame: x", SystemClock().now())
    store.close()

    findings = {f.check: f for f in Doctor(str(config), str(db), url=None).run() if f.check.startswith("ID-card")}
    assert set(findings) == {"ID-card reader k-gone", "ID-card reader k-demo", "ID-card reader k-bad"}
    assert findings["ID-card reader k-gone"].status == FAIL and "plugged in" in findings["ID-card reader k-gone"].fix
    assert findings["ID-card reader k-demo"].status == OK
    bad = findings["ID-card reader k-bad"]
    assert bad.status == WARN and "read_error" in bad.message and "tongban idcard test" in bad.fix
