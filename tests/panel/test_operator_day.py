"""The operator's day in a real browser: level-1 overview figures against the historian, faceplates, logbook,
handover, tablet sizes and touch targets, and the overview's first paint with live data."""

from __future__ import annotations

import bisect
import itertools
import json
import math
import re
import statistics
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from plantctl.samples import utcnow
from tests.panel.conftest import ARTIFACTS, EXCURSION_S, PanelService, excursion_at, login, screenshot

HOLD_S = 60.0  # the example plant's reporting.max_hold_s (default)
PERMIT = (6.0, 9.0)
NAOH_L_H = 250.0  # reporting.reagents[0].capacity_l_h
TABLET = {"tablet-landscape": (1024, 768), "tablet-portrait": (768, 1024)}
LONG_FLOAT = re.compile(r"\d\.\d{5,}")


def _series(conn: psycopg.Connection[Any], tag: str, start: datetime, end: datetime) -> list[tuple[float, float, bool]]:
    cur = conn.execute("SELECT extract(epoch FROM s.ts)::float8, s.value, s.quality FROM samples s "
                       "JOIN tags t ON t.id = s.tag_id WHERE t.name = %s AND s.ts >= %s AND s.ts < %s ORDER BY s.ts",
                       (tag, start - timedelta(seconds=HOLD_S), end))
    return [(float(t), float(v), (int(q) & 0xC0) == 0xC0) for t, v, q in cur.fetchall()]


def _at(series: list[tuple[float, float, bool]], times: list[float], t: float) -> float | None:
    """The value standing at t: the newest sample at or before t, Good and younger than the hold time."""
    i = bisect.bisect_right(times, t) - 1
    if i < 0:
        return None
    ts, v, good = series[i]
    return v if good and t - ts < HOLD_S and math.isfinite(v) else None


def expected_figures(url: str, start: datetime, end: datetime) -> dict[str, float]:
    """Out-of-permit minutes, volume, NaOH litres and permit share over [start, end), from the raw samples."""
    with psycopg.connect(url, autocommit=True) as conn:
        ph, q, naoh = (_series(conn, tag, start, end) for tag in ("AIT-410", "FIT-410", "P-201.SPEED"))
    t0, t1 = start.timestamp(), end.timestamp()
    cuts = {t0, t1}
    for s in (ph, q, naoh):
        for ts, _v, _g in s:
            cuts.update((ts, ts + HOLD_S))
    edges = sorted(c for c in cuts if t0 <= c <= t1)
    times = {id(s): [x[0] for x in s] for s in (ph, q, naoh)}
    out_s = disch_s = unknown_s = vol = naoh_l = 0.0
    for a, b in itertools.pairwise(edges):
        dur = b - a
        p, f, sp = (_at(s, times[id(s)], a) for s in (ph, q, naoh))
        if f is not None:
            vol += f * dur / 3600
            if f > 0:
                disch_s += dur
                if p is None:
                    unknown_s += dur
                elif not PERMIT[0] <= p <= PERMIT[1]:
                    out_s += dur
        if sp is not None:
            naoh_l += sp / 100 * NAOH_L_H * dur / 3600
    known = disch_s - unknown_s
    return {"minutes_out_of_permit": out_s / 60, "volume_discharged_m3": vol, "naoh_l": naoh_l,
            "permit_pct": 100 * (1 - out_s / known) if known > 0 else float("nan")}


def test_overview_key_figures_match_the_historian(panel_service: PanelService, page: Page) -> None:
    assert panel_service.seeded_end is not None
    excursion = excursion_at(panel_service.seeded_end)  # seeded before the service started (conftest.py)
    login(page, panel_service, "operator")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/overview") and r.ok) as got:
        page.reload()
    ov = got.value.json()
    expect(page.locator("[data-page=overview]")).to_have_attribute("data-overview", "ready")
    for key, fig in (("today", ov["today"]), ("hour", ov["last_hour"])):
        start, end = datetime.fromisoformat(fig["start"]), datetime.fromisoformat(fig["end"])
        want = expected_figures(panel_service.database_url, start, end)
        # the service read the historian at `end`; a sample of the last second may have landed after it
        assert fig["minutes_out_of_permit"] == pytest.approx(want["minutes_out_of_permit"], abs=0.05), key
        if start <= excursion < end:
            # 20 s of pH 9.6 from +0.5 s, less the in-band seeded sample at +10 s standing until +10.5 s: 19 s
            assert want["minutes_out_of_permit"] >= (EXCURSION_S - 1) / 60 - 1e-9, "the seeded excursion counts"
        assert fig["volume_discharged_m3"] == pytest.approx(want["volume_discharged_m3"], abs=0.01), key
        assert fig["permit_pct"] == pytest.approx(want["permit_pct"], abs=0.05), key
        naoh = fig["reagents"][0]
        assert naoh["name"] == "NaOH"
        assert naoh["litres"] == pytest.approx(want["naoh_l"], abs=0.01), key
        # the page shows the API's figures, each to its precision
        expect(page.get_by_test_id(f"{key}-minutes_out_of_permit")).to_have_text(f"{fig['minutes_out_of_permit']:.1f}")
        expect(page.get_by_test_id(f"{key}-volume_discharged_m3")).to_have_text(f"{fig['volume_discharged_m3']:.1f}")
        expect(page.get_by_test_id(f"{key}-permit_pct")).to_have_text(f"{fig['permit_pct']:.1f}")
        # lithium in (AIT-300) and out (AIT-301) are both measured: recovered is in - out, to 2 decimals
        assert fig["li_in_kg"] is not None and fig["li_out_kg"] is not None
        assert fig["li_recovered_kg"] == pytest.approx(fig["li_in_kg"] - fig["li_out_kg"])
        expect(page.get_by_test_id(f"{key}-li_recovered_kg")).to_have_text(f"{fig['li_recovered_kg'] + 0.0:.2f}")
        expect(page.get_by_test_id(f"{key}-volume_diverted_m3")).to_have_text("not measured")
    # the example plant's C-301 (reporting.column) has no regeneration recorded in this database yet
    expect(page.get_by_test_id("column-loading")).to_contain_text("no regeneration of C-301 recorded")
    # key measurements come from the plant file: the discharge pH and flow, the loop PV, the alarmed tags
    assert [i["tag"] for i in ov["indicators"]] == ["AIT-410", "FIT-410", "AIT-101", "AIT-401", "LIT-101", "LIT-501"]
    ait = next(i for i in ov["indicators"] if i["tag"] == "AIT-101")
    assert {(lim["type"], lim["limit"]) for lim in ait["limits"]} == {("HH", 9.0), ("H", 8.5), ("L", 6.5), ("LL", 6.0)}
    assert ait["setpoint"] == 6.85  # T-101 feeds the column: its setpoint, not the permit
    discharge = next(i for i in ov["indicators"] if i["tag"] == "AIT-410")
    assert (discharge["permit_low"], discharge["permit_high"]) == (6.0, 9.0)
    card = page.locator(".indicator-card[data-tag='AIT-101']")
    expect(card.locator("svg.indicator .limit")).to_have_count(4)
    expect(card.locator("svg.indicator .sp")).to_have_count(1)
    expect(page.locator(".indicator-card[data-tag='AIT-410'] svg.sparkline .permit-band")).to_have_count(1)
    assert len(card.locator("svg.sparkline .spark-line").get_attribute("d") or "") > 100  # two hours drawn
    expect(card.get_by_test_id("value")).to_have_text(re.compile(r"^\d+\.\d\d$"))  # pH to 2 decimals
    row = page.locator(".loops-summary tr[data-loop='PHC-101']")
    phc = next(lp for lp in ov["loops"] if lp["name"] == "PHC-101")
    expect(row.locator("td").first).to_have_text(phc["mode"])
    expect(row.get_by_test_id("loop-sp")).to_have_text("6.85")
    expect(row.get_by_test_id("loop-dev")).to_have_text(re.compile(r"^[▲▼=] \d+\.\d\d$"))
    assert not LONG_FLOAT.search(page.locator("main").inner_text()), "a value printed beyond its precision"
    screenshot(page, "overview-level1")


def test_faceplate_dialog_opens_from_an_indicator_and_an_instrument(panel_service: PanelService, page: Page) -> None:
    login(page, panel_service, "viewer")
    page.locator(".indicator-card[data-tag='AIT-101']").click()
    dlg = page.get_by_test_id("faceplate")
    expect(dlg).to_be_visible()
    expect(dlg.get_by_role("heading", name="AIT-101")).to_be_visible()
    expect(dlg.get_by_test_id("faceplate-value")).to_have_text(re.compile(r"^\d+\.\d\d$"))
    expect(dlg.get_by_test_id("faceplate-trend")).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    expect(dlg).to_contain_text("Setpoint 6.85 pH (PHC-101)")
    screenshot(page, "faceplate-AIT-101")
    page.keyboard.press("Escape")  # keyboard: Escape closes the dialog
    expect(dlg).to_have_count(0)
    page.get_by_role("button", name="LIT-101 faceplate").click()  # an instrument of the process area
    expect(page.get_by_test_id("faceplate").get_by_role("heading", name="LIT-101")).to_be_visible()
    expect(page.get_by_test_id("faceplate-value")).to_have_text(re.compile(r"^\d+\.\d$"))  # 0-100 %: 1 decimal
    page.get_by_test_id("faceplate").get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_test_id("faceplate")).to_have_count(0)


def test_logbook_note_is_audited_searchable_and_on_the_handover(panel_service: PanelService, page: Page,
                                                                browser: Browser) -> None:
    login(page, panel_service, "operator", "#/logbook")
    marker = f"strainer-{utcnow():%H%M%S%f}"
    page.get_by_label("New note").fill(f"P-202 suction {marker} cleaned; acid dosing normal")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_test_id("logbook-status")).to_contain_text("added")
    rows = panel_service.audit_rows("logbook_note", "logbook")
    assert rows and rows[0]["actor"] == "operator" and marker in rows[0]["new_value"]["text"]
    with psycopg.connect(panel_service.database_url, autocommit=True) as conn:
        stored = conn.execute("SELECT author, body FROM logbook_note WHERE body LIKE %s", (f"%{marker}%",)).fetchall()
    assert stored == [("operator", f"P-202 suction {marker} cleaned; acid dosing normal")]
    page.get_by_label("Search notes").fill(marker.upper())  # any case
    expect(page.get_by_test_id("logbook-count")).to_have_text(f"1 note matching “{marker.upper()}”")
    page.get_by_label("Search notes").fill("no-such-words-anywhere")
    expect(page.get_by_test_id("logbook-count")).to_contain_text("0 notes")
    screenshot(page, "logbook")

    # PHC-101 to MAN: on the handover as a loop not in AUTO and as an override; back to its mode afterwards
    was = page.evaluate("window.plantctl.api.get('/api/v1/loops/PHC-101').then((lp) => lp.mode)")
    page.evaluate("window.plantctl.api.put('/api/v1/loops/PHC-101/mode', {mode: 'MAN', reason: 'handover test'})")
    page.evaluate("window.plantctl.api.put('/api/v1/loops/PHC-101/electrodes/AIT-105', "
                  "{in_vote: false, reason: 'two-point calibration'})")
    try:
        page.get_by_role("navigation", name="Pages").get_by_role("link", name="Handover").click()
        expect(page.locator("[data-page=handover]")).to_have_attribute("data-handover", "ready")
        expect(page.get_by_test_id("handover-loops").locator("tr[data-loop='PHC-101']")).to_contain_text("MAN")
        expect(page.get_by_test_id("handover-overrides").locator("tr[data-loop='PHC-101']")).to_be_visible()
        expect(page.get_by_test_id("handover-notes")).to_contain_text(marker)
        for part in ("standing", "shelved", "oos", "instruments"):
            expect(page.get_by_test_id(f"handover-{part}")).to_be_visible()
        out = page.get_by_test_id("handover-vote").locator("tr[data-tag='AIT-105']")  # the next shift recalibrates
        expect(out).to_contain_text("PHC-101")
        expect(out).to_contain_text("two-point calibration")
        screenshot(page, "handover")
        page.emulate_media(media="print")
        expect(page.locator(".topbar")).to_be_hidden()  # the sheet prints without the shell
        expect(page.locator("h1.print-only")).to_be_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(ARTIFACTS / "handover.pdf"), format="A4")
        page.emulate_media(media="screen")
    finally:
        page.evaluate("(m) => window.plantctl.api.put('/api/v1/loops/PHC-101/mode', {mode: m, reason: 'test done'})"
                      ".catch(() => null)", was)
        page.evaluate("window.plantctl.api.put('/api/v1/loops/PHC-101/electrodes/AIT-105', {in_vote: true})"
                      ".catch(() => null)")

    viewer = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB", timezone_id="UTC",
                                 bypass_csp=True).new_page()
    try:
        login(viewer, panel_service, "viewer", "#/logbook")
        expect(viewer.get_by_role("button", name="Add note")).to_be_disabled()
        expect(viewer.locator(".notes tr[data-note]").first).to_be_visible()  # a viewer reads the notes
        status = viewer.evaluate("window.plantctl.api.post('/api/v1/logbook', {text: 'x'})"
                                 ".then(() => 0, (e) => e.status)")
        assert status == 403
    finally:
        viewer.context.close()


@pytest.mark.parametrize("name", list(TABLET))
def test_tablet_overview_alarms_faceplate_touch_targets(panel_service: PanelService, browser: Browser,
                                                        name: str) -> None:
    width, height = TABLET[name]
    ctx = browser.new_context(viewport={"width": width, "height": height}, has_touch=True, is_mobile=False,
                              locale="en-GB", timezone_id="UTC", bypass_csp=True)
    try:
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        login(page, panel_service, "operator")
        expect(page.locator("[data-page=overview]")).to_have_attribute("data-overview", "ready")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scrolling"
        small = page.evaluate("""() => [...document.querySelectorAll(
            'main button, .topbar button, .nav a, main .tagname a, main input, main select')]
            .filter((n) => n.offsetParent !== null)
            .map((n) => [n.textContent.trim() || n.getAttribute('aria-label'), n.getBoundingClientRect()])
            .filter(([, r]) => r.width < 44 || r.height < 44).map(([t, r]) => `${t} ${r.width}x${r.height}`)""")
        assert small == [], small
        screenshot(page, f"overview-{name}")
        page.locator(".indicator-card[data-tag='AIT-101']").focus()
        page.keyboard.press("Enter")  # keyboard operable: a focused indicator opens its faceplate
        expect(page.get_by_test_id("faceplate")).to_be_visible()
        box = page.get_by_test_id("faceplate").bounding_box()
        assert box is not None and box["width"] <= width
        screenshot(page, f"faceplate-{name}")
        page.keyboard.press("Escape")
        page.get_by_role("navigation", name="Pages").get_by_role("link", name=re.compile(r"^Alarms")).click()
        expect(page.locator("[data-page=alarms]")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"alarms-{name}")
    finally:
        ctx.close()


def test_overview_first_paint_with_live_data(panel_service: PanelService, page: Page) -> None:
    """Navigation start → key figures drawn and a live value painted, median of three loads (target ≤ 1 s).

    Each load comes after the 5 s refresh interval: the service answers from its kept figures while it reads
    the next ones (the first, cold read of a service is bench/overview.py's figure)."""
    login(page, panel_service, "operator")
    runs = []
    for _ in range(3):
        page.wait_for_timeout(5500)
        page.reload()
        page.wait_for_function("performance.getEntriesByName('overview-live').length "
                               "&& performance.getEntriesByName('overview-figures').length", timeout=10_000)
        runs.append(page.evaluate("""() => ({
            figures_ms: performance.getEntriesByName('overview-figures')[0].startTime,
            live_ms: performance.getEntriesByName('overview-live')[0].startTime })"""))
    first_paint = [max(r["figures_ms"], r["live_ms"]) for r in runs]
    result = {"what": "overview first paint with live data (navigation start to key figures and a live value), "
                      "each load after the refresh interval (kept figures served while the next are read)",
              "runs_ms": [round(x, 1) for x in first_paint], "median_ms": round(statistics.median(first_paint), 1),
              "target_ms": 1000, "detail": runs}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "overview_first_paint.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    assert result["median_ms"] <= 1000, result


def test_process_graphic_drawn_from_the_plant_file_opens_faceplates(panel_service: PanelService, page: Page) -> None:
    login(page, panel_service, "viewer", "#/process")
    expect(page.locator("[data-page=process]")).to_have_attribute("data-process", "ready")
    expect(page.get_by_test_id("process-source")).to_contain_text("plant file")
    # the example plant's process: section, in flow order
    units = page.locator("svg.process .p-unit").evaluate_all("(gs) => gs.map((g) => g.dataset.unit)")
    assert units == ["Influent", "T-101", "C-301", "T-401", "Discharge", "T-501"]
    tank = page.locator(".p-unit[data-unit='T-101']")
    assert tank.locator(".p-inst").evaluate_all("(gs) => gs.map((g) => g.dataset.tag)") == [
        "AIT-101", "AIT-104", "AIT-105", "CIT-101", "LIT-101", "TIT-101"]
    expect(tank.locator(".p-pump")).to_have_count(2)
    expect(tank.locator(".p-loop[data-loop='PHC-101']")).to_have_count(1)
    expect(page.locator(".p-inst[data-tag='AIT-101'] .pvalue")).to_have_text(re.compile(r"^\d+\.\d\d pH$"))
    expect(page.locator(".p-inst[data-tag='AIT-301'] .pvalue")).to_have_text(re.compile(r"^\d+ mg/L$"))
    screenshot(page, "process")
    page.get_by_role("button", name="AIT-301 C-301 outlet lithium: faceplate").click()
    expect(page.get_by_test_id("faceplate").get_by_role("heading", name="AIT-301")).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="FIT-100 Influent flow: faceplate").focus()
    page.keyboard.press("Enter")  # keyboard operable
    expect(page.get_by_test_id("faceplate").get_by_role("heading", name="FIT-100")).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("button", name=re.compile(r"^P-201 pump")).click()
    expect(page.get_by_test_id("faceplate").get_by_role("heading", name="P-201.SPEED")).to_be_visible()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="PHC-101 loop faceplate").click()
    expect(page.locator("[data-page=loops]")).to_be_visible()
    page.set_viewport_size({"width": 1024, "height": 768})
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Process").click()
    expect(page.locator("[data-page=process]")).to_have_attribute("data-process", "ready")
    box = page.locator(".p-inst[data-tag='AIT-101'] circle").bounding_box()
    assert box is not None and box["width"] >= 44 and box["height"] >= 44, box  # touch-sized at tablet width
    screenshot(page, "process-tablet-landscape")
