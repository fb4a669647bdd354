"""Identification and use control for the API (IEC 62443-3-3 FR 1 and FR 2)."""
