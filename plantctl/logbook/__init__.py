"""The operators' shift logbook: timestamped notes, audited, searchable, never edited."""
