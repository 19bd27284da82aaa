"""Serial window displays (窗口屏), hall LED boards (综合屏) and caller keypads (呼叫器).

The core calls `DisplayHub.window_changed()` (or `BusWorker.show()` per address) and routes
`KeyEvent`s from keypads to the service as the clerk signed in at that window. See docs/displays.md.
"""

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
from .hub import DisplayHub
from .presets import PRESETS, get_preset
from .worker import BusWorker, DeviceStatus, KeyEvent
from .world import WINDOW_STATES, DisplayWorld

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
