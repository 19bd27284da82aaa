"""Serial window displays (窗口屏), hall LED boards (综合屏) and caller keypads (呼叫器).

The core calls `DisplayHub.window_changed()` (or `BusWorker.show()` per address) and routes
`KeyEvent`s from keypads to the service as the clerk signed in at that window. See docs/displays.md.

The hall config reads [[buses]] through ``displays.config`` and must not load pyserial on the way
(tests/test_domain_purity.py), so the serial workers load on first use of their names.
"""

import importlib

from .config import BusConfig, DeviceConfig, load_bus_config, parse_bus_config, parse_frame_spec
from .errors import BusConfigError, DisplayError, FrameError
from .frames import (
    KEYS,
    Checksum,
    Field,
    Frame,
    FrameDecoder,
    FrameSpec,
    LengthField,
    ReplySpec,
    build_frame,
    crc16_ccitt,
    decode_key,
    decode_text,
    encode_text,
    poll_frame,
    reply_frame,
    sum8,
    text_frames,
    xor8,
)
from .presets import PRESETS, get_preset
from .world import WINDOW_STATES, DisplayWorld

_LAZY = {"DisplayHub": "hub", "BusWorker": "worker", "DeviceStatus": "worker", "KeyEvent": "worker"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BusConfig",
    "BusConfigError",
    "BusWorker",
    "Checksum",
    "DeviceConfig",
    "DeviceStatus",
    "DisplayError",
    "DisplayHub",
    "DisplayWorld",
    "Field",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "FrameSpec",
    "KEYS",
    "KeyEvent",
    "LengthField",
    "PRESETS",
    "ReplySpec",
    "WINDOW_STATES",
    "build_frame",
    "crc16_ccitt",
    "decode_key",
    "decode_text",
    "encode_text",
    "get_preset",
    "load_bus_config",
    "parse_bus_config",
    "parse_frame_spec",
    "poll_frame",
    "reply_frame",
    "sum8",
    "text_frames",
    "xor8",
]
