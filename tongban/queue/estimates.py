"""Wait estimates (DESIGN §4): people ahead × smoothed service time ÷ effective windows, with a band."""
from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_SERVICE_MIN = 8.0
# Weight of the newest service in the smoothed mean: about the last ten services matter.
SMOOTHING = 0.2
# Service times in halls are skewed (lognormal, CV ~0.8): the band is wider above than below.
LOW_FACTOR = 0.6
HIGH_FACTOR = 1.5


@dataclass(frozen=True)
class Estimate:
    minutes: int
    low: int
    high: int

    def as_dict(self) -> dict:
        return {"minutes": self.minutes, "low": self.low, "high": self.high}


def smooth(previous: float | None, count: int, sample_min: float) -> float:
    """Exponentially smoothed service time; the first few samples are averaged plainly."""
    if previous is None or count == 0:
        return sample_min
    weight = max(SMOOTHING, 1.0 / (count + 1))
    return previous + weight * (sample_min - previous)


def estimate_wait(people_ahead: int, service_min: float | None, effective_windows: float) -> Estimate:
    per_service = service_min if service_min else DEFAULT_SERVICE_MIN
    if effective_windows <= 0:
        # Nobody serves the line right now: say what one window would take rather than "infinite".
        effective_windows = 1.0
    mid = people_ahead * per_service / effective_windows
    return Estimate(minutes=round(mid), low=math.floor(mid * LOW_FACTOR), high=math.ceil(mid * HIGH_FACTOR))


def effective_windows(line: str, windows_serving: list[tuple[str, ...]]) -> float:
    """A window that serves k lines gives each of them 1/k of its time."""
    return sum(1.0 / len(serving) for serving in windows_serving if line in serving and serving)
