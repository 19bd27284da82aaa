"""The queue domain and the hall config load no web or device library.

The domain (tongban/queue) and config.py are shared by the web process, the devices process, the
simulator and the command line; a web or hardware import there would tie them all to it. Each check
runs in a fresh interpreter, because this test process has long since imported everything.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import tongban.queue

FORBIDDEN = ("flask", "werkzeug", "serial", "PIL", "qrcode", "escpos", "markupsafe")
# every module of the domain (tongban.queue.service among them) and the config it reads
DOMAIN = ["tongban.config"] + sorted(f"tongban.queue.{m.name}" for m in pkgutil.iter_modules(tongban.queue.__path__))


def loaded_after_import(module: str) -> list[str]:
    """The forbidden top-level packages in sys.modules after importing ``module`` alone."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} & set({FORBIDDEN!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_loads_no_web_or_device_library(module):
    assert loaded_after_import(module) == []


def test_the_hall_web_loads_no_district_client():
    """Nothing on a hall's request path touches the network (docs/architecture.md §District sync):
    the web process never even loads the code that talks to the district."""
    code = (
        "import json, sys, tongban.web.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('tongban.devices', 'tongban.district',"
        " 'psycopg')))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == []
