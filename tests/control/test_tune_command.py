"""`plantctl tune LOOP` as the lead mounts it: a report on good input, a one-line error (no traceback) on bad."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from plantctl.tools.tuning import Fopdt, TuningRefused, check_step_test, tune_command

app = typer.Typer()
app.command("tune")(tune_command)
app.command("noop")(lambda: None)  # two commands, so typer keeps "tune" as a subcommand


@pytest.mark.parametrize(("args", "message"), [
    (["tune", "PHC-999"], "no loop 'PHC-999' in the plant file (loops: PHC-101, FC-201, PHC-401, FC-401)"),
    (["tune", "PHC-101", "--rule", "ziegler"], "--rule must be simc or lambda"),
    (["tune", "PHC-101", "--compensation", "magic"], "compensation"),
    (["tune", "PHC-101", "--config", "nope.yaml"], "cannot read file"),
])
def test_bad_input_gives_a_clear_error_and_no_traceback(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.slow
def test_tune_prints_a_fopdt_model_and_pi_gains_for_the_shipped_loop(tmp_path: Path) -> None:
    """On a steady plant, as a step test is run: the example plant with its influent's daily swing and
    wander held still (the shipped day drifts more than a small step moves it, and tune rightly refuses)."""
    text = Path("examples/plant.yaml").read_text(encoding="utf-8")
    steady = text.replace("  seed: 42\n", "  seed: 42\n  influent: {flow_mean_m3_h: 8, flow_amplitude_m3_h: 0, "
                          "ph_amplitude: 0, li_amplitude_mg_l: 0, flow_wander_fraction: 0, ph_wander: 0, "
                          "li_wander_fraction: 0}\n", 1)
    assert steady != text
    plant = tmp_path / "plant.yaml"
    plant.write_text(steady, encoding="utf-8")
    result = CliRunner().invoke(app, ["tune", "PHC-101", "--config", str(plant), "--step-pct", "1",
                                      "--settle-s", "3600"])
    assert result.exit_code == 0, result.output
    assert "FOPDT: " in result.output and "SIMC" in result.output and "kp =" in result.output
    assert "mmol/L" in result.output  # the shipped loop is titration-compensated


@pytest.mark.slow
def test_a_test_started_before_the_plant_settled_is_refused_for_its_wrong_sign() -> None:
    """Two minutes after start-up T-101 is still souring toward the influent: the fit sees a falling CV."""
    result = CliRunner().invoke(app, ["tune", "PHC-101", "--step-pct", "0.5", "--settle-s", "120"])
    assert result.exit_code == 2, result.output
    assert "refused: the step test gives a process gain of -" in result.output
    assert "opposite sign of the loop's action (kp +8)" in result.output
    assert "kp =" not in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_a_test_whose_cv_was_still_moving_is_refused_as_not_settled() -> None:
    """Ten minutes in, the right sign but a pre-step trend of the same size as the response: no proposal."""
    result = CliRunner().invoke(app, ["tune", "PHC-101", "--step-pct", "3", "--settle-s", "600"])
    assert result.exit_code == 2, result.output
    assert "refused: the test did not settle: before the step the CV was moving" in result.output
    assert "settle longer (--settle-s)" in result.output and "kp =" not in result.output


def test_the_sign_check_follows_the_loops_action_and_the_fit_quality() -> None:
    """Pure check: the sign is the configured kp's (an acid-dosing loop has a negative one)."""
    check_step_test(Fopdt(2.0, 600.0, 20.0, 0.01), 16.0, 0.0, 1200.0, "pH")
    check_step_test(Fopdt(-2.0, 600.0, 20.0, 0.01), -5.0, 0.0, 1200.0, "pH")
    with pytest.raises(TuningRefused, match="opposite sign"):
        check_step_test(Fopdt(-2.0, 600.0, 20.0, 0.01), 16.0, 0.0, 1200.0, "pH")
    with pytest.raises(TuningRefused, match="does not follow a step"):
        check_step_test(Fopdt(2.0, 600.0, 20.0, 0.6), 16.0, 0.0, 1200.0, "pH")
    with pytest.raises(TuningRefused, match="moving"):
        check_step_test(Fopdt(2.0, 600.0, 20.0, 0.01), 16.0, 0.001, 1200.0, "pH")  # 1.2 pH of trend vs 1.7
