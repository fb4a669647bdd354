"""The connectors' range check: the kernel's rule (plantctl.config.plausibility), shared with the alarm engine."""

from plantctl.config.plausibility import CHECK_DECODING, HARD_LIMIT_SPANS, TINY_ABSOLUTE, TINY_SPANS, WILD_SPANS, judge

__all__ = ["CHECK_DECODING", "HARD_LIMIT_SPANS", "TINY_ABSOLUTE", "TINY_SPANS", "WILD_SPANS", "judge"]
