"""A report as CSV and as PDF: same figures, same rounding, byte-identical for the same data.

Nothing time-varying goes into a document (no "generated at"), and reportlab runs in invariant mode,
so regenerating a report from unchanged data gives the same bytes and the same stored hash.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from plantctl.reports.figures import Report, RowFigures

PH_FMT = "{:.2f}"
MIN_FMT = "{:.1f}"
M3_FMT = "{:.2f}"
L_FMT = "{:.1f}"
KG_FMT = "{:.3f}"


def fmt(value: float | None, pattern: str) -> str:
    """A figure at its report precision; an empty cell where there was no valid data."""
    return "" if value is None else pattern.format(value + 0.0)  # +0.0: never print -0.0


def row_cells(r: Report, f: RowFigures) -> list[str]:
    cells = [f.label, fmt(f.ph_min, PH_FMT), fmt(f.ph_mean, PH_FMT), fmt(f.ph_max, PH_FMT),
             fmt(f.minutes_out_of_permit, MIN_FMT), fmt(f.minutes_ph_unknown, MIN_FMT),
             fmt(f.volume_discharged_m3, M3_FMT), fmt(f.volume_offspec_m3, M3_FMT),
             fmt(f.volume_diverted_m3, M3_FMT)]
    cells += [fmt(v, L_FMT) for v in f.reagents_l]
    cells += [fmt(f.li_in_kg, KG_FMT), fmt(f.li_recovered_kg, KG_FMT)]
    return cells


def header(r: Report) -> list[str]:
    first = "hour (local)" if r.kind == "daily" else "day (local)"
    cols = [first, "pH min", "pH mean", "pH max", "min out of permit", "min pH unknown", "discharged m3",
            "off-spec m3", "diverted m3"]
    cols += [f"{name} L" for name in r.reagent_names]
    cols += ["Li in kg", "Li recovered kg"]
    return cols


def _summary(r: Report) -> list[tuple[str, str]]:
    t = r.total
    share = r.permit_share
    treated = t.volume_discharged_m3
    reagent_total = sum(t.reagents_l)
    out = [
        ("plant", r.plant), ("site", r.site), ("report", f"{r.kind} {r.key}"), ("time zone", r.zone),
        ("from (UTC)", r.start.strftime("%Y-%m-%dT%H:%M:%SZ")), ("to (UTC)", r.end.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("permit", f"pH {r.ph_low:g} to {r.ph_high:g} at {r.discharge_ph_tag}"),
        ("discharge in permit %", "" if share is None else f"{share * 100:.2f}"),
        ("minutes out of permit", fmt(t.minutes_out_of_permit, MIN_FMT)),
        ("minutes pH unknown while discharging", fmt(t.minutes_ph_unknown, MIN_FMT)),
        ("volume discharged m3", fmt(t.volume_discharged_m3, M3_FMT)),
        ("volume off-spec m3", fmt(t.volume_offspec_m3, M3_FMT)),
        ("volume diverted m3", fmt(t.volume_diverted_m3, M3_FMT)),
    ]
    out += [(f"{name} L", fmt(v, L_FMT)) for name, v in zip(r.reagent_names, t.reagents_l, strict=True)]
    out.append(("reagent L per m3 discharged", "" if treated <= 0 else f"{reagent_total / treated:.3f}"))
    out += [("lithium in kg", fmt(t.li_in_kg, KG_FMT)), ("lithium recovered kg", fmt(t.li_recovered_kg, KG_FMT))]
    if r.column is not None:
        c = r.column
        out += [(f"{c.column} lithium taken up kg", fmt(c.taken_up_kg, KG_FMT)),
                (f"{c.column} hours without uptake data", f"{c.unknown_h:.2f}"),
                (f"{c.column} last regenerated (UTC)",
                 "" if c.regenerated_at is None else f"{c.regenerated_at:%Y-%m-%dT%H:%M:%SZ} by {c.regenerated_by}"),
                (f"{c.column} loading at end kg", fmt(c.loaded_kg_end, KG_FMT)),
                (f"{c.column} loading at end % of {c.capacity_kg:g} kg", fmt(c.loading_pct_end, "{:.1f}"))]
    if r.alarms is not None:
        a = r.alarms
        out += [("alarms annunciated", str(a.annunciations)),
                ("alarms per 10 min (avg / peak)", f"{a.per_10min_avg:.2f} / {a.per_10min_max:.0f}"),
                ("flood share %", f"{a.flood_share * 100:.1f}"), ("chattering alarms", str(a.chattering)),
                ("standing at end", str(a.standing_at_end))]
        out += [(f"top alarm {i}", f"{name} ({n})") for i, (name, n) in enumerate(a.top, 1)]
    out.append(("operator actions", str(len(r.actions))))
    return out


def to_csv(r: Report) -> bytes:
    """Summary, then the rows with a total line, then the operator actions; one table after another."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["item", "value"])
    w.writerows(_summary(r))
    w.writerow([])
    w.writerow(header(r))
    w.writerows(row_cells(r, f) for f in (*r.rows, r.total))
    w.writerow([])
    w.writerow(["action at (UTC)", "actor", "action", "target", "change"])
    w.writerows([a.at.strftime("%Y-%m-%dT%H:%M:%SZ"), a.actor, a.action, a.target, a.change] for a in r.actions)
    return buf.getvalue().encode()


def to_pdf(r: Report) -> bytes:
    """The same content as the CSV, laid out for A4 landscape."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=12 * mm, bottomMargin=12 * mm, invariant=1,
                            title=f"{r.plant} discharge report {r.key}", author="plantctl", creator="plantctl")
    grid_style = TableStyle([
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7), ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])

    def table(rows: Iterable[list[str]], widths: list[float] | None = None) -> Table:
        t = Table([list(x) for x in rows], colWidths=widths, repeatRows=1)
        t.setStyle(grid_style)
        return t

    title = "Daily" if r.kind == "daily" else "Monthly"
    story = [Paragraph(f"{title} discharge report {r.key} - {r.plant}", styles["Title"]),
             table([["item", "value"], *[list(x) for x in _summary(r)]], [80 * mm, 110 * mm]),
             Spacer(0, 6 * mm),
             Paragraph("Per hour" if r.kind == "daily" else "Per day", styles["Heading2"]),
             table([header(r), *(row_cells(r, f) for f in (*r.rows, r.total))])]
    story += [Spacer(0, 6 * mm), Paragraph("Operator actions", styles["Heading2"])]
    if r.actions:
        story.append(table([["at (UTC)", "actor", "action", "target", "change"],
                            *([a.at.strftime("%Y-%m-%d %H:%M:%S"), a.actor, a.action, a.target, a.change[:90]]
                              for a in r.actions)]))
    else:
        story.append(Paragraph("none", styles["Normal"]))
    doc.build(story)
    return buf.getvalue()


def render(r: Report, fmt_name: str) -> bytes:
    if fmt_name == "csv":
        return to_csv(r)
    if fmt_name == "pdf":
        return to_pdf(r)
    raise ValueError(f"format {fmt_name!r}: pdf or csv")
