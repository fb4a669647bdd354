"""Unseen-upset sweep: the whole plant (examples/plant.yaml, every loop and the diversion valve) through
upsets generated from a seed within each class (plantctl/tools/upset_sweep.py), none of them from the
scenario files. Per class: runs, off-spec litres at the outfall (the acceptance: 0), the largest share of
the flow diverted, and T-401 (the last stage) outside pH 6-9. The baseline, measured in the same run
(--baseline; always with --quick), is the plant file with the flow loops' meter fall-back switched off
(the cascade as it was before it); `tank_out_of_band_ratio` is the plant's tank time out of 6-9 over the
baseline's. The figures are simulated, not timed: the machine's load does not change them.

    .venv/bin/python bench/upset_sweep.py [--quick] [--runs N] [--seed S] [--classes a,b]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml

from plantctl.tools.upset_sweep import CLASSES, SweepRun, run_one, spare_overrides, summarise

ROOT = Path(__file__).resolve().parents[1]
PLANT = ROOT / "examples" / "plant.yaml"
QUICK_CLASSES = ("flowmeter", "electrode-two")


def without_fallback(plant: Path, out_dir: Path) -> Path:
    """The plant file with every flow loop's meter fall-back removed (the baseline)."""
    doc = yaml.safe_load(plant.read_text())
    for lp in doc.get("loops", []):
        lp.pop("meter_fallback", None)
    path = out_dir / "plant-no-fallback.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="two classes, one run each, short windows (< 60 s)")
    ap.add_argument("--runs", type=int, default=4, help="runs per class")
    ap.add_argument("--seed", type=int, default=0, help="first seed (run k of a class uses seed + k)")
    ap.add_argument("--classes", default="", help="comma-separated classes (default: all)")
    ap.add_argument("--baseline", action="store_true", help="also run the baseline (no meter fall-back)")
    ap.add_argument("--t401-spare", action="store_true",
                    help="run the plant with AIT-410 as the spare of T-401's vote and of PHC-401's 2oo3 trips too "
                         "(the change proposed for the PHC-401 section)")
    args = ap.parse_args()
    classes = [c for c in args.classes.split(",") if c] or (list(QUICK_CLASSES) if args.quick else list(CLASSES))
    unknown = set(classes) - set(CLASSES)
    if unknown:
        ap.error(f"unknown classes {', '.join(sorted(unknown))}; known: {', '.join(CLASSES)}")
    runs_per = 1 if args.quick else args.runs
    warmup_s, window_s = (900.0, 2400.0) if args.quick else (1800.0, 3 * 3600.0)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        plants = {"plant": PLANT}
        if args.baseline or args.quick:
            plants["no-fallback"] = without_fallback(PLANT, Path(d))
        results: dict[str, list[SweepRun]] = {label: [] for label in plants}
        for cls in classes:
            for k in range(runs_per):
                for label, path in plants.items():
                    over = spare_overrides(path) if args.t401_spare else None
                    r = run_one(path, cls, args.seed + k, warmup_s=warmup_s, window_s=window_s, label=label,
                                overrides=over)
                    results[label].append(r)
                    print(f"{label:<12} {cls:<20} seed {r.seed:<4} start {r.start_h:5.2f} h  off-spec "
                          f"{r.offspec_l:8.1f} L  diverted {r.diverted_fraction:6.3f}  T-401 out "
                          f"{r.t401_out_of_band_s:6.0f} s  T-101 out {r.t101_out_of_band_s:6.0f} s  ({r.what})",
                          flush=True)
    out: dict[str, object] = {}
    for label, rs in results.items():
        key = "" if label == "plant" else "_no_fallback"
        out[f"by_class{key}"] = summarise(rs)
        out[f"offspec_discharged_l{key}"] = round(sum(r.offspec_l for r in rs), 1)
        out[f"runs_offspec{key}"] = sum(1 for r in rs if r.offspec_l > 0.0)
        out[f"diverted_max_fraction{key}"] = round(max(r.diverted_fraction for r in rs), 4)
        out[f"t401_out_of_band_s_total{key}"] = round(sum(r.t401_out_of_band_s for r in rs), 1)
    if "no-fallback" in results:
        base = sum(r.t401_out_of_band_s + r.t101_out_of_band_s for r in results["no-fallback"])
        mine = sum(r.t401_out_of_band_s + r.t101_out_of_band_s for r in results["plant"])
        out["tank_out_of_band_ratio"] = round(mine / base, 4) if base > 0 else None
    out["runs"] = len(results["plant"])
    out["t401_spare"] = args.t401_spare
    out["seed"] = args.seed
    out["quick"] = args.quick
    out["window_s"] = window_s
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
