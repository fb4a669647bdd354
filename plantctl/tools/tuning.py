"""Engineer's tuning tool: an open-loop step test, a FOPDT fit, and PI gains by SIMC or lambda tuning.

The step is made in the loop's controlled variable (pH, or base demand in mmol/L when the loop is
titration-compensated), so the gains proposed are in the units the plant file's kp/ki use.
SIMC: Skogestad, J. Process Control 13 (2003) 291–309; lambda tuning: Dahlin / IMC for FOPDT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
import typer
from scipy.optimize import least_squares

from control.events import EventLog
from control.group import LoopGroup
from plantctl.config import ConfigError
from plantctl.config.models import LoopMode
from plantctl.plantfile import load_plant
from plantctl.tools.closed_loop import EPOCH, loop_config, sample_of
from sim.headless import run
from sim.interface import COMMANDS, Reading
from sim.model import PlantModel
from sim.params import load_sim_params

Rule = Literal["simc", "lambda"]


@dataclass(frozen=True, slots=True)
class Fopdt:
    """First order plus dead time: gain K (CV unit per output %), time constant τ and dead time θ (s)."""

    gain: float
    tau_s: float
    dead_time_s: float
    rms_residual: float

    def response(self, t_s: npt.NDArray[np.float64], step: float) -> npt.NDArray[np.float64]:
        shifted = np.clip(t_s - self.dead_time_s, 0.0, None)
        return np.asarray(self.gain * step * (1.0 - np.exp(-shifted / self.tau_s)))


def fit_fopdt(t_s: npt.ArrayLike, y: npt.ArrayLike, step: float) -> Fopdt:
    """Least-squares FOPDT through a step response; t from the step, y as deviation from before it."""
    t = np.asarray(t_s, dtype=float)
    yy = np.asarray(y, dtype=float)
    if t.size < 10 or t.size != yy.size or step == 0:
        raise ValueError("a FOPDT fit needs ≥ 10 points of a non-zero step response")
    span = float(t[-1] - t[0])
    final = float(np.mean(yy[-max(3, yy.size // 20):]))
    k0 = final / step if final != 0 else 1e-3
    x0 = np.array([k0, max(span / 3, 1.0), span / 20])

    def resid(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        r: npt.NDArray[np.float64] = Fopdt(p[0], p[1], p[2], 0.0).response(t, step) - yy
        return r

    k_bound = max(abs(k0) * 1000, 1e-6)
    sol = least_squares(resid, x0, bounds=([-k_bound, 1e-3, 0.0], [k_bound, 100 * max(span, 1.0), span / 2]))
    k, tau, theta = (float(v) for v in sol.x)
    return Fopdt(k, tau, theta, float(np.sqrt(np.mean(sol.fun**2))))


@dataclass(frozen=True, slots=True)
class PiProposal:
    rule: Rule
    closed_loop_time_s: float
    kc: float  # output % per CV unit
    ti_s: float

    @property
    def ki(self) -> float:
        """simple-pid Ki (output % per CV unit·s)."""
        return self.kc / self.ti_s


def propose_pi(model: Fopdt, rule: Rule = "simc", closed_loop_time_s: float | None = None) -> PiProposal:
    """SIMC (τc defaults to θ: tight but robust) or lambda tuning (λ defaults to 3θ, τI = τ)."""
    k, tau, theta = model.gain, model.tau_s, max(model.dead_time_s, 1e-3)
    if rule == "simc":
        tc = theta if closed_loop_time_s is None else closed_loop_time_s
        return PiProposal(rule, tc, tau / (k * (tc + theta)), min(tau, 4.0 * (tc + theta)))
    lam = 3.0 * theta if closed_loop_time_s is None else closed_loop_time_s
    return PiProposal(rule, lam, tau / (k * (lam + theta)), tau)


@dataclass(frozen=True)
class TuningReport:
    """What the step test saw, the model fitted and the gains proposed; print() it for the engineer."""

    loop: str
    compensation: str
    cv_unit: str
    operating_point: float
    step_pct: float
    model: Fopdt
    proposal: PiProposal
    current_kp: float
    current_ki: float
    observed_s: float = 0.0  # how long the response was recorded after the step

    @property
    def near_integrating(self) -> bool:
        """τ far beyond the test: only K/τ (the initial slope) is identified, not K and τ apart."""
        return self.observed_s > 0 and self.model.tau_s >= 5.0 * self.observed_s

    def __str__(self) -> str:
        m, p = self.model, self.proposal
        u = self.cv_unit
        if self.near_integrating:
            model = (f"  FOPDT: near-integrating over the {self.observed_s:.0f} s test, slope K/tau = "
                     f"{m.gain / m.tau_s:.4g} {u}/(%·s) (K and tau not identified apart), theta = "
                     f"{m.dead_time_s:.1f} s (rms residual {m.rms_residual:.3g} {u})")
        else:
            model = (f"  FOPDT: K = {m.gain:.4g} {u}/%, tau = {m.tau_s:.0f} s, theta = {m.dead_time_s:.1f} s "
                     f"(rms residual {m.rms_residual:.3g} {u})")
        return "\n".join([
            f"Loop {self.loop} (compensation {self.compensation}), controlled variable in {u}",
            f"  step test: output step {self.step_pct:+g} % at CV {self.operating_point:.3f} {u}",
            model,
            f"  {p.rule.upper()} (closed-loop time {p.closed_loop_time_s:.0f} s): "
            f"kp = {p.kc:.4g} %/{u}, Ti = {p.ti_s:.0f} s, ki = {p.ki:.4g} %/({u}·s), kd = 0",
            f"  plant file now: kp = {self.current_kp:g}, ki = {self.current_ki:g}",
        ])


class TuningRefused(ValueError):
    """The step test cannot support a proposal; the reason says why and what to do."""


# A pre-step trend that would move the CV by this share of the step's response over the test, or a fit
# whose residual is this share of the response, means the response is not the step's alone.
DRIFT_SHARE_MAX = 0.25
RESIDUAL_SHARE_MAX = 0.25


def check_step_test(model: Fopdt, configured_kp: float, drift_per_s: float, observed_s: float,
                    unit: str) -> None:
    """Refuse a proposal of the wrong sign, or from a test whose CV was still moving or did not follow the step.

    The sign is the configured kp's: a positive kp means output up, CV up (NaOH raises the pH). A fitted
    gain of the other sign is a disturbance mistaken for the response (or a plant mis-wired), never a
    gain to put into the loop: it would turn feedback into positive feedback.
    """
    response = model.gain * (1.0 - np.exp(-max(observed_s - model.dead_time_s, 0.0) / model.tau_s))
    if configured_kp != 0.0 and model.gain * configured_kp <= 0.0:
        raise TuningRefused(
            f"refused: the step test gives a process gain of {model.gain:+.4g} {unit}/%, the opposite sign of "
            f"the loop's action (kp {configured_kp:+g}); a disturbance during the test or a wrong output "
            "mapping; repeat the test on a steady plant")
    drift = abs(drift_per_s) * observed_s
    if drift > DRIFT_SHARE_MAX * abs(response):
        raise TuningRefused(
            f"refused: the test did not settle: before the step the CV was moving {drift_per_s * 60:+.3g} "
            f"{unit}/min, {drift:.3g} {unit} over the {observed_s:.0f} s test against a response of "
            f"{abs(response):.3g} {unit}; settle longer (--settle-s) or step larger")
    if model.rms_residual > RESIDUAL_SHARE_MAX * abs(response):
        raise TuningRefused(
            f"refused: the test did not settle: the response does not follow a step (rms residual "
            f"{model.rms_residual:.3g} {unit} against a response of {abs(response):.3g} {unit}); repeat it "
            "on a steady plant or step larger")


def tune(plant_file: str | Path, loop_name: str, *, step_pct: float = 1.0, settle_s: float = 1800.0,
         observe_s: float = 1200.0, rule: Rule = "simc", closed_loop_time_s: float | None = None,
         seed: int | None = None, compensation: str | None = None,
         setpoint: float | None = None) -> TuningReport:
    """Step test on the headless simulator: settle in AUTO, go MAN (bumpless), step the output, fit, propose.

    `setpoint` is the operating point of the test (default: the loop's setpoint); a pH loop's gain
    depends on where on the titration curve it is measured.
    """
    plant = load_plant(plant_file)
    over: dict[str, object] = {"mode": LoopMode.AUTO, "interlocks": []}  # the test may leave the band
    if compensation is not None:
        over["compensation"] = compensation
    if setpoint is not None:
        over["setpoint"] = setpoint
    cfg = loop_config(plant, loop_name, **over)
    # The whole plant runs as `plantctl run` runs it (other stages keep control; a cascade primary's step
    # reaches its pump through the inner flow loop); only the tested loop goes to MAN and steps.
    others = [lp.model_copy(update={"mode": LoopMode.CAS if lp.cas_source else LoopMode.AUTO})
              for lp in plant.loops if lp.name != loop_name]
    group = LoopGroup(plant.model_copy(update={"loops": [cfg, *others]}), EventLog())
    loop = group.loops[loop_name]
    model = PlantModel(load_sim_params(plant_file), seed)
    cv: list[tuple[float, float]] = []
    state = {"stepped_at": None}
    runs = {name.replace(".SP", ".RUN") for name in COMMANDS if name.endswith(".SP")} & set(COMMANDS)

    def controller(t_s: float, readings: dict[str, Reading]) -> dict[str, float]:
        commands: dict[str, float] = {}
        if t_s == 0.0:
            commands = dict.fromkeys(runs, 1.0)
        for tag in group.inputs:
            if tag in readings:
                group.on_sample(sample_of(tag, readings[tag], t_s))
        now = EPOCH + timedelta(seconds=t_s)
        if t_s >= settle_s and loop.mode is not LoopMode.MAN:
            loop.set_mode(LoopMode.MAN, "tuning", now, "step test")
        if t_s >= settle_s + 60.0 and state["stepped_at"] is None:
            state["stepped_at"] = t_s  # type: ignore[assignment]
            loop.set_output(loop.output + step_pct, "tuning", now)
        for req in group.execute(now, cfg.period_s):
            if req.tag in COMMANDS:
                commands[req.tag] = min(max(req.value, 0.0), 100.0)
        pv = loop.vote.value if loop.vote is not None else readings[cfg.pv].value
        cv.append((t_s, loop.compensator.to_control(pv)))
        return commands

    if cfg.period_s != 1.0:
        raise ValueError("the simulator step test runs the loop at 1 s; set period_s: 1.0 to tune")
    run(model, settle_s + 60.0 + observe_s, dt_s=1.0, controller=controller, record_every_s=60.0)
    t0 = state["stepped_at"]
    assert t0 is not None
    arr = np.array(cv)
    # the CV's trend before the step over up to 10 min: over 60 s a pulsed pump's ripple is the slope
    before = arr[(arr[:, 0] >= t0 - min(600.0, settle_s)) & (arr[:, 0] < t0)]
    after = arr[arr[:, 0] >= t0]
    base = float(np.mean(before[:, 1]))
    fit = fit_fopdt(after[:, 0] - t0, after[:, 1] - base, step_pct)
    unit = loop.compensator.unit or (plant.tag(cfg.pv).unit if any(t.name == cfg.pv for t in plant.tags) else "")
    drift_per_s = float(np.polyfit(before[:, 0], before[:, 1], 1)[0])
    check_step_test(fit, cfg.kp, drift_per_s, float(after[-1, 0] - t0), unit)
    return TuningReport(loop_name, cfg.compensation.value, unit, base, step_pct, fit,
                        propose_pi(fit, rule, closed_loop_time_s), cfg.kp, cfg.ki,
                        observed_s=float(after[-1, 0] - t0))


def tune_command(
    loop: Annotated[str, typer.Argument(help="loop name in the plant file, e.g. PHC-101", show_default=False)],
    config: Annotated[Path, typer.Option(help="plant file (YAML)")] = Path("examples/plant.yaml"),
    step_pct: Annotated[float, typer.Option(help="output step, % (keep the PV inside its range)")] = 1.0,
    rule: Annotated[str, typer.Option(help="simc or lambda")] = "simc",
    closed_loop_time_s: Annotated[float | None, typer.Option(
        help="SIMC tau_c / lambda, s (default: theta for SIMC, 3 theta for lambda)")] = None,
    compensation: Annotated[str | None, typer.Option(
        help="override the loop's compensation (none, titration, gain_schedule)")] = None,
    setpoint: Annotated[float | None, typer.Option(
        help="operating point of the step test (default: the loop's setpoint)")] = None,
    settle_s: Annotated[float, typer.Option(help="time in AUTO before the test, s")] = 1800.0,
) -> None:
    """Step-test a loop on the simulated plant, fit FOPDT, propose PI gains (SIMC or lambda)."""
    if rule not in ("simc", "lambda"):
        typer.echo(f"--rule must be simc or lambda, got {rule!r}", err=True)
        raise typer.Exit(2)
    try:
        report = tune(config, loop, step_pct=step_pct, rule=rule,  # type: ignore[arg-type]
                      closed_loop_time_s=closed_loop_time_s, compensation=compensation, setpoint=setpoint,
                      settle_s=settle_s)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise typer.Exit(1) from None
    except (KeyError, ValueError) as exc:
        typer.echo(f"plantctl tune: {exc.args[0] if exc.args else exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(str(report))
