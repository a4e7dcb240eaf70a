"""Numbers and times written for people: thousands separators, 3 decimals for metrics, plain units."""

from __future__ import annotations

import math
from datetime import datetime, timezone


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def count(value, missing: str = "–") -> str:
    """A whole number with thousands separators: ``1234567 -> "1,234,567"``."""
    if _missing(value):
        return missing
    return f"{int(round(float(value))):,}"


def metric(value, decimals: int = 3, missing: str = "–") -> str:
    """A metric value with 3 decimals: ``0.12345 -> "0.123"``."""
    if _missing(value):
        return missing
    return f"{float(value):,.{decimals}f}"


def percent(fraction, decimals: int = 1, missing: str = "–") -> str:
    """A fraction as a percentage: ``0.0342 -> "3.4%"``; tiny non-zero values say ``"<0.1%"``."""
    if _missing(fraction):
        return missing
    value = float(fraction) * 100
    smallest = 10 ** -decimals
    if 0 < abs(value) < smallest:
        return f"<{smallest:g}%"
    return f"{value:,.{decimals}f}%"


def compact(value, missing: str = "–") -> str:
    """A short count for tight spaces: ``1234 -> "1.2k"``, ``2_500_000 -> "2.5M"``."""
    if _missing(value):
        return missing
    value = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return count(value)


def size(n_bytes, missing: str = "–") -> str:
    """Bytes in the largest sensible unit: ``1536 -> "1.5 KB"``, ``3.2e9 -> "3.2 GB"``."""
    if _missing(n_bytes):
        return missing
    value = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - loop always returns


def duration(seconds, missing: str = "–") -> str:
    """A span of time people read at a glance: ``0.4 -> "under a second"``, ``75 -> "1 min 15 s"``,
    ``5400 -> "1 h 30 min"``."""
    if _missing(seconds):
        return missing
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return "under a second"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def about(seconds) -> str:
    """An estimated span, short enough for a narrow table cell: ``0.4 -> "< 1 s"``, ``75 -> "≈ 1 min 15 s"``."""
    return "< 1 s" if not _missing(seconds) and float(seconds) < 1 else "≈ " + duration(seconds)


def when(timestamp, missing: str = "–") -> str:
    """A moment as local date and time, ``"12 Mar 2025, 14:05"``; accepts epoch seconds, ISO text or
    a datetime."""
    if _missing(timestamp) or timestamp == "":
        return missing
    if isinstance(timestamp, datetime):
        moment = timestamp
    elif isinstance(timestamp, (int, float)):
        moment = datetime.fromtimestamp(float(timestamp), tz=timezone.utc).astimezone()
    else:
        try:
            moment = datetime.fromisoformat(str(timestamp))
        except ValueError:
            return str(timestamp)
    return moment.strftime("%d %b %Y, %H:%M").lstrip("0")


def plural(n: int, word: str, plural_word: str | None = None) -> str:
    """``plural(1, "user") -> "1 user"``, ``plural(1200, "user") -> "1,200 users"``."""
    return f"{count(n)} {word if int(n) == 1 else (plural_word or word + 's')}"
