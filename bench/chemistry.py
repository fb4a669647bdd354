"""Validation of the simulator's chemistry against published data (not against itself).

Computes the table in docs/simulator-model.md §1.7: pH of reference solutions, conductivities of NaCl,
Na2SO4 and H2SO4 at three concentrations each, and a nickel hydroxide precipitation curve. Prints the
rows; the last line of stdout is one JSON object with max_abs_dph and max_rel_conductivity_error.

    .venv/bin/python bench/chemistry.py [--quick]

Molalities (mol/kg) of the standards are taken as mol/L (≤ 0.3 % apart at these strengths);
K+ of the phosphate standards is carried as Na+ (the pH sees only the charge; no conductivity row uses K+).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.chemistry import KSP, METAL_G_MOL, Invariants, base_for_ph, conductivity_ms_cm, equilibrate, pkw

# Sources, as checked (docs/simulator-model.md §1 "Validation" says what each check found).
BATES_1962 = ("Bates, 'Revised standard values for pH measurements from 0 to 95 °C', J. Res. NBS 66A (1962) 179, "
              "doi:10.6028/jres.066A.016; value corroborated by the NIST pH(S) table in Analog Devices' CN0398 "
              "reference firmware (github.com/analogdevicesinc/mbed-adi, CN0398.h)")
BATES_1969 = ("Bates et al., 'Two new standards for the pH scale', J. Res. NBS 73A (1969) 37, "
              "doi:10.6028/jres.073A.004 (10.012 at 25 °C stated in the abstract; "
              "40 °C value from the CN0398 pH(S) table)")
ROBINSON_STOKES = ("−log(m·γ±) with γ±(HCl) as recalled from Robinson & Stokes, Electrolyte Solutions, 2nd ed. (1959), "
                   "App. 8.10 — NOT confirmed; a convention, not a published pH: reported, not gated")
CRC_EQUIV = ("CRC Handbook of Chemistry and Physics, "
             "'Equivalent conductivity of electrolytes in aqueous solution', 25 °C")
CRC_NACL = (CRC_EQUIV + "; corroborated to 4 figures (123.7, 118.5, 106.7 S cm²/mol at 298 K) by the NCERT "
            "Chemistry XII exercise data")
CRC_UNCONFIRMED = CRC_EQUIV + " — value as recalled, NOT confirmed by search"
HAMER_DEWANE = ("CRC Handbook, 'Molar conductivity of aqueous HF, HCl, HBr, and HI' "
                "(from Hamer & DeWane, NSRDS-NBS 33, 1970), 25 °C")


@dataclass(frozen=True)
class PhRow:
    name: str
    water: Invariants
    temp_c: float
    published: float
    source: str
    gated: bool = True  # False: a derived reference value, reported beside the gate, not in it


@dataclass(frozen=True)
class ConductivityRow:
    name: str
    water: Invariants
    published_ms_cm: float
    source: str
    confirmed: bool = True  # False: the published value could not be checked against its source


def _phosphate(kh2po4: float, na2hpo4: float) -> Invariants:
    return Invariants(na=kh2po4 + 2.0 * na2hpo4, phosphate=kh2po4 + na2hpo4)


def _carbonate(nahco3: float, na2co3: float) -> Invariants:
    return Invariants(na=nahco3 + 2.0 * na2co3, carbonate=nahco3 + na2co3)


PH_ROWS = [
    PhRow("0.025 m KH2PO4 + 0.025 m Na2HPO4 (NIST 1:1 phosphate)", _phosphate(0.025, 0.025), 25.0, 6.865,
          BATES_1962),
    PhRow("same, 10 °C", _phosphate(0.025, 0.025), 10.0, 6.923, BATES_1962),
    PhRow("same, 37 °C", _phosphate(0.025, 0.025), 37.0, 6.841, BATES_1962),
    PhRow("0.008695 m KH2PO4 + 0.03043 m Na2HPO4 (NIST 1:3.5 phosphate)", _phosphate(0.008695, 0.03043), 25.0,
          7.413, BATES_1962),
    PhRow("0.025 m NaHCO3 + 0.025 m Na2CO3 (NIST carbonate)", _carbonate(0.025, 0.025), 25.0, 10.012, BATES_1969),
    PhRow("same, 40 °C", _carbonate(0.025, 0.025), 40.0, 9.889, BATES_1969),
    PhRow("0.01 m HCl", Invariants(chloride=0.01), 25.0, -math.log10(0.01 * 0.904), ROBINSON_STOKES, gated=False),
    PhRow("0.1 m HCl", Invariants(chloride=0.1), 25.0, -math.log10(0.1 * 0.796), ROBINSON_STOKES, gated=False),
]

# CRC gives Λ per equivalent (1/2 Na2SO4, 1/2 H2SO4) at c in equivalents per litre; κ = Λ·c.
CONDUCTIVITY_ROWS = [
    ConductivityRow(f"NaCl {c} mol/L", Invariants(na=c, chloride=c), lam * c, CRC_NACL)
    for c, lam in ((0.001, 123.68), (0.01, 118.45), (0.1, 106.69))
] + [
    ConductivityRow(f"Na2SO4 {c / 2} mol/L", Invariants(na=c, sulfate=c / 2), lam * c, CRC_UNCONFIRMED, False)
    for c, lam in ((0.001, 124.09), (0.01, 112.38), (0.1, 89.94))
] + [
    ConductivityRow(f"H2SO4 {c / 2} mol/L", Invariants(sulfate=c / 2), lam * c, CRC_UNCONFIRMED, False)
    for c, lam in ((0.001, 399.5), (0.01, 336.4), (0.1, 250.8))
] + [
    ConductivityRow(f"HCl {c} mol/L", Invariants(chloride=c), lam * c, HAMER_DEWANE)
    for c, lam in ((0.001, 421.2), (0.01, 411.9), (0.1, 391.1))
]


def ph_table() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for row in PH_ROWS:
        model = equilibrate(row.water, row.temp_c).ph
        out.append({"solution": row.name, "temp_c": row.temp_c, "published_ph": round(row.published, 3),
                    "model_ph": round(model, 3), "dph": round(model - row.published, 3), "source": row.source,
                    "gated": row.gated})
    return out


def conductivity_table() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for row in CONDUCTIVITY_ROWS:
        model = conductivity_ms_cm(row.water)
        out.append({"solution": row.name, "published_ms_cm": round(row.published_ms_cm, 4),
                    "model_ms_cm": round(model, 4),
                    "rel_error": round((model - row.published_ms_cm) / row.published_ms_cm, 4),
                    "source": row.source, "confirmed": row.confirmed})
    return out


def precipitation_curve() -> list[dict[str, object]]:
    """0.01 M NiSO4 brought to each pH with NaOH: dissolved Ni vs the ideal Ksp/[OH-]² line.

    The reference line uses the CRC Ksp the model also uses, so this checks the activity and
    precipitation code, not the constant itself: it is reported, not gated.
    """
    water = Invariants(sulfate=0.01, ni=0.01)
    out: list[dict[str, object]] = []
    for ph in (8.0, 8.5, 9.0, 9.5, 10.0):
        na = base_for_ph(ph, water)
        eq = equilibrate(Invariants(na=na, sulfate=0.01, ni=0.01))
        model_mg_l = eq.species.dissolved["ni"] * METAL_G_MOL["ni"] * 1000.0
        oh = math.pow(10.0, ph - pkw(25.0))
        ideal = min(KSP["ni"] / (oh * oh), 0.01) * METAL_G_MOL["ni"] * 1000.0
        out.append({"ph": ph, "naoh_mmol_l": round(na * 1000.0, 3), "dissolved_ni_mg_l": round(model_mg_l, 4),
                    "ideal_ksp_line_mg_l": round(ideal, 4)})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="the same table (it takes well under a second)")
    parser.parse_args(argv)
    t0 = time.perf_counter()
    ph_rows = ph_table()
    kappa_rows = conductivity_table()
    curve = precipitation_curve()
    for r in ph_rows:
        print(f"pH  {r['solution']:<62} {r['temp_c']:>4} °C  published {r['published_ph']:>7}  "
              f"model {r['model_ph']:>7}  Δ {r['dph']:+.3f}{'' if r['gated'] else ' (not gated)'}   [{r['source']}]")
    for r in kappa_rows:
        print(f"κ   {r['solution']:<24} published {r['published_ms_cm']:>8} mS/cm  model {r['model_ms_cm']:>8}  "
              f"{100 * float(str(r['rel_error'])):+.1f} %   [{r['source']}]")
    gated = [r for r in ph_rows if r["gated"]]
    confirmed = [r for r in kappa_rows if r["confirmed"]]
    for r in curve:
        print(f"Ni(OH)2  pH {r['ph']:<5} NaOH {r['naoh_mmol_l']:>7} mmol/L  "
              f"dissolved Ni {r['dissolved_ni_mg_l']:>10} mg/L"
              f"  (ideal Ksp line {r['ideal_ksp_line_mg_l']})")
    result = {
        "max_abs_dph": max(abs(float(str(r["dph"]))) for r in gated),
        "max_rel_conductivity_error": max(abs(float(str(r["rel_error"]))) for r in kappa_rows),
        "max_rel_conductivity_error_confirmed_rows": max(abs(float(str(r["rel_error"]))) for r in confirmed),
        "ph_rows": len(gated), "ph_rows_reported_not_gated": len(ph_rows) - len(gated),
        "conductivity_rows": len(kappa_rows), "conductivity_rows_unconfirmed": len(kappa_rows) - len(confirmed),
        "ni_dissolved_mg_l_at_ph9": curve[2]["dissolved_ni_mg_l"],
        "wall_s": round(time.perf_counter() - t0, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
