"""Sections another package owns (the simulator's `simulation:`) are checked whatever was imported before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

EXAMPLE_PLANT = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"

# Runs in a fresh interpreter: nothing but plantctl.config has been imported when load_plant runs.
_PROBE = textwrap.dedent("""
    import sys
    from plantctl.config import ConfigError
    from plantctl.plantfile import load_plant
    assert not any(m == "sim" or m.startswith("sim.") for m in sys.modules), "sim imported before load_plant"
    try:
        load_plant(sys.argv[1])
    except ConfigError as exc:
        print("\\n".join(str(i) for i in exc.issues))
        raise SystemExit(1)
    print("accepted")
""")


def test_unknown_simulation_field_is_refused_with_file_and_line_in_a_fresh_interpreter(tmp_path: Path) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text("plant: {name: x}\nsimulation:\n  seed: 3\n  bogus_field: 1\n")
    out = subprocess.run([sys.executable, "-c", _PROBE, str(plant)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"{plant}:4" in out.stdout and "bogus_field" in out.stdout, out.stdout


def test_a_valid_simulation_section_is_accepted_in_a_fresh_interpreter(tmp_path: Path) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text(EXAMPLE_PLANT.read_text())  # the example plant has a full simulation: section
    out = subprocess.run([sys.executable, "-c", _PROBE, str(plant)], capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stdout.strip()) == (0, "accepted"), out.stdout + out.stderr
