"""Numbers as every page and report shows them: one spelling of a count, a percentage
and a change, so a page and its report never disagree in print."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any


def number(value: Any, suffix: str = "") -> str:
    """As the pages show numbers: thousands separators, one decimal when not whole."""
    if isinstance(value, Decimal):
        value = float(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}{suffix}"
    return f"{int(value):,}{suffix}"


def change(now: Any, before: Any, suffix: str = "") -> str | None:
    """The management page's delta: signed, whole when whole."""
    if now is None or before is None:
        return None
    moved = float(now or 0) - float(before or 0)
    if math.isnan(moved):
        return None
    return f"{moved:+,.1f}{suffix}" if not moved.is_integer() else f"{int(moved):+,}{suffix}"
