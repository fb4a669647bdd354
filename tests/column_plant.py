"""A plant with a lithium sorbent column for the API and panel tests: the example plant plus an inlet analyser
(when the example lacks one) and a reporting.column section, and a known history around a regeneration.

History, from the regeneration at t0 (a minute boundary) to t0 + 5 h: the flow 5 m3/h sampled each minute
(held 60 s, the plant's max_hold_s, so each sample holds until the next); the inlet 500 and the outlet 20 mg/L
every 600 s (held 900 s), the outlet Bad from t0 + 1:00 to 1:30. So until t0 + 5 h:
  uptake while known      5 m3/h × (500 − 20) g/m3 = 2.4 kg/h
  unknown                 0.5 h, estimated at the mean measured rate, 2.4 kg/h
  loaded at t0 + h        2.4 × h kg (h ≥ 1.5), of CAPACITY_KG
  uptake rate (2 h)       2.4 kg/h once h ≥ 3.5
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_PLANT = REPO / "examples" / "plant.yaml"
CAPACITY_KG = 50.0
RATE_KG_H = 5.0 * (500 - 20) / 1000
INLET = "AIT-300"
INLET_TAG = {"name": INLET, "description": "C-301 inlet lithium", "unit": "mg/L", "range": {"low": 0, "high": 1500},
             "source": "PLC-1-OPCUA", "opcua": {"node_id": "ns=2;s=Plant.C301.AIT-300"}, "deadband": 0.5}
COLUMN = {"name": "C-301", "capacity_kg": CAPACITY_KG, "inlet": INLET, "outlet": "AIT-301", "flow": "FIT-100",
          "breakthrough_ratio": 0.1, "uptake_window_h": 2, "analyser_hold_s": 900}


def column_plant_file(directory: Path) -> Path:
    """The example plant with C-301's column section (and AIT-300 if the example lacks it), written to directory."""
    data = yaml.safe_load(EXAMPLE_PLANT.read_text())
    if not any(t["name"] == INLET for t in data["tags"]):
        data["tags"].append(INLET_TAG)
    data["reporting"]["column"] = COLUMN
    path = directory / "plant-column.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def seed_column_history(url: str, t0: datetime) -> None:
    """The history in the module docstring, straight into the samples table."""
    with psycopg.connect(url, autocommit=True) as conn:
        ids = {}
        for name, unit in (("FIT-100", "m3/h"), (INLET, "mg/L"), ("AIT-301", "mg/L")):
            conn.execute("INSERT INTO tags (name, unit) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING", (name, unit))
            ids[name] = conn.execute("SELECT id FROM tags WHERE name = %s", (name,)).fetchone()[0]  # type: ignore[index]
        rows = [(t0 + timedelta(minutes=m), ids["FIT-100"], 5.0, 192) for m in range(-1, 5 * 60)]
        for k in range(-1, 30):
            t = t0 + timedelta(seconds=600 * k)
            rows.append((t, ids[INLET], 500.0, 192))
            rows.append((t, ids["AIT-301"], 20.0, 0 if 6 <= k < 9 else 192))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, %s, %s)", rows)


def expected_loaded_kg(t0: datetime, at: datetime) -> float:
    """Loading at `at` (t0 + 1.5 h … t0 + 5 h): measured and estimated alike at 2.4 kg/h, worked out above."""
    return RATE_KG_H * (at - t0).total_seconds() / 3600
