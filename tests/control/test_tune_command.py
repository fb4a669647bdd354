"""`plantctl tune LOOP` as the lead mounts it: a report on good input, a one-line error (no traceback) on bad."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from plantctl.tools.tuning import tune_command

app = typer.Typer()
app.command("tune")(tune_command)
app.command("noop")(lambda: None)  # two commands, so typer keeps "tune" as a subcommand


@pytest.mark.parametrize(("args", "message"), [
    (["tune", "PHC-999"], "no loop 'PHC-999' in the plant file (loops: PHC-101)"),
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
def test_tune_prints_a_fopdt_model_and_pi_gains_for_the_shipped_loop() -> None:
    result = CliRunner().invoke(app, ["tune", "PHC-101", "--step-pct", "0.5"])
    assert result.exit_code == 0, result.output
    assert "FOPDT: " in result.output and "SIMC" in result.output and "kp =" in result.output
    assert "mmol/L" in result.output  # the shipped loop is titration-compensated
