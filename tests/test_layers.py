"""The production service loads the simulator only when asked to simulate (the layer contract: pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_PROBE = textwrap.dedent("""
    import sys
    import tempfile
    from pathlib import Path

    import plantctl.serve  # what `plantctl run` imports to serve
    from api.app import create_app
    from plantctl.plantfile import load_plant
    from plantctl.runtime.service import PlantRuntime

    real_plant = Path(tempfile.mkdtemp()) / "plant.yaml"  # the example plant without its simulation: section
    real_plant.write_text(Path("examples/plant.yaml").read_text().split("\\nsimulation:")[0])
    runtime = PlantRuntime(load_plant(real_plant), state_dir=real_plant.parent, sources={})
    app = create_app(runtime)
    print(sorted(m for m in sys.modules if m == "sim" or m.startswith("sim.")))
    print(sorted(r.path for r in app.routes if "/simulator" in getattr(r, "path", "")))
""")


def test_the_api_of_a_real_plant_imports_no_simulator_code() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["[]", "[]"], out.stdout


def test_the_plantctl_command_imports_no_simulator_until_a_simulator_command_runs() -> None:
    probe = ("import sys, plantctl.cli; "
             "print(sorted(m for m in sys.modules if m == 'sim' or m.startswith(('sim.', 'plantctl.tools'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert (out.returncode, out.stdout.strip()) == (0, "[]"), out.stdout + out.stderr
    helped = subprocess.run([sys.executable, "-m", "plantctl.cli", "sim", "--help"], capture_output=True, text=True,
                            timeout=120, cwd=REPO)
    assert helped.returncode == 0 and "--speed" in helped.stdout, helped.stdout + helped.stderr
