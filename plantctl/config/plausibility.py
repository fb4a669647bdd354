"""Judge a decoded value against its tag's engineering range, so a wrong decoding is never stored as Good.

A wrong word order or data type gives values orders of magnitude off (8.6e9 on a 0–1500 mg/L
tag, 65494 on a −100..100 tag) or absurdly small (2.3e-41): the most common Modbus commissioning
mistake. Within the range plus the tag's margin a value is Good; beyond it Uncertain –
engineering units exceeded (OPC UA Part 8 §5.3.2 / OPC DA 0x54); beyond the hard limit Bad.
The reason names the likely cause when the value is wildly off. In the kernel so the connectors
(quality) and the alarm engine (the diagnostic range alarm) judge by one rule.
"""

from __future__ import annotations

import math

from plantctl.config.models import TagConfig
from plantctl.quality import Quality

HARD_LIMIT_SPANS = 10.0
"""Without configured hard limits, a value this many spans beyond the range is Bad, not Uncertain."""
WILD_SPANS = 100.0
"""This many spans beyond the range is a decoding mistake, not a process excursion."""
TINY_SPANS = 1e-9
"""A non-zero magnitude below this fraction of the span is a float read in the wrong word order (1e-19, 2e-41):
no instrument resolves nine orders of magnitude below its range."""
TINY_ABSOLUTE = 1e-6
"""...and below this in any unit, so a wide range (±1e13 counters) never judges ordinary numbers tiny."""
CHECK_DECODING = "check byte/word order or data type"


def good_band(tag: TagConfig) -> tuple[float, float, float]:
    """What judge() calls Good: a value in [low, high] (margins included) whose magnitude, unless 0, is at least tiny.

    For callers that judge many values of one tag (the alarm engine): two comparisons, judge() for the rest.
    """
    low, high = tag.range.low, tag.range.high
    span = high - low
    margin = span * tag.range_margin_pct / 100.0
    return low - margin, high + margin, min(TINY_SPANS * span, TINY_ABSOLUTE)


def judge(tag: TagConfig, value: float) -> tuple[Quality, str]:
    """The quality and reason a finite value of `tag` gets (GOOD and '' when it is plausible)."""
    low, high = tag.range.low, tag.range.high
    span = high - low
    band_low, band_high, tiny = good_band(tag)
    if value != 0 and abs(value) < tiny:
        return Quality.UNCERTAIN, (
            f"{value:g} {tag.unit} is implausibly small for {tag.name} [{low:g}, {high:g}]: {CHECK_DECODING}")
    if band_low <= value <= band_high:
        return Quality.GOOD, ""
    beyond = (low - value) if value < low else (value - high)
    hard = tag.hard_limits
    hard_low, hard_high = (hard.low, hard.high) if hard is not None else (
        low - HARD_LIMIT_SPANS * span, high + HARD_LIMIT_SPANS * span)
    where = f"{value:g} {tag.unit} is outside {tag.name}'s range [{low:g}, {high:g}] {tag.unit}"
    if beyond > WILD_SPANS * span or not math.isfinite(value):
        return Quality.BAD, f"{where} by orders of magnitude: {CHECK_DECODING}"
    if not hard_low <= value <= hard_high:
        return Quality.BAD, f"{where} and beyond its hard limit [{hard_low:g}, {hard_high:g}]"
    return Quality.UNCERTAIN_EU_EXCEEDED, f"{where} (margin {tag.range_margin_pct:g} %)"
