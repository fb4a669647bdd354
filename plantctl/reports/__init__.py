"""Daily and monthly discharge reports computed from the historian, in the plant's own time zone."""
