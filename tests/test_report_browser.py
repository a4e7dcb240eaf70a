"""The stakeholder report in a real browser: built for the demo with four finished runs (three models
trained by the real worker with short settings, and Popularity), opened in headless Chromium with every
network request blocked; every section and chart drawn, no console error, no person's raw id. Then the
same report printed to PDF, and downloaded from the Results page of a real dashboard. The screenshot
goes to docs/screenshots/report.png (the README shows it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from conftest import run_streamlit

from recsys import report as rp
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
SECTION_IDS = [sid for sid, _ in rp.SECTIONS]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory) -> tuple[Path, int]:
    """A data folder with the demo and four finished runs (EASE, ItemKNN, Implicit ALS and the Popularity
    baseline) trained by `python -m recsys worker --once`."""
    from recsys import jobs

    home = tmp_path_factory.mktemp("report-demo") / "home"
    store = Store(home)
    demo = store.ensure_demo()
    for model, params in (("ease", {}), ("itemknn", {}), ("ials", {"epochs": 3, "factors": 32})):
        jobs.submit(store, demo, model, params, protocol="random", seed=42)
    done = subprocess.run([sys.executable, "-m", "recsys", "worker", "--once"], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, TASTEMAKER_HOME=str(home)), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = store.list_runs(demo)
    assert set(runs["status"]) == {"done"} and len(runs) == 4, runs[["model", "status", "error"]]
    return home, demo


@pytest.fixture(scope="module")
def demo_report(demo_runs) -> rp.Report:
    home, demo = demo_runs
    report = rp.build_report(Store(home), demo)
    print(f"\ndemo report: {len(report.run_ids)} runs, {report.size / 1e6:.2f} MB, {report.charts} charts, "
          f"built in {report.seconds:.1f} s")
    return report


def offline_page(chromium, blocked: list[str], problems: list[str], width: int = 1280):
    """A tab that lets only file: and data: URLs through (every other request is aborted and noted) and
    notes console errors and uncaught page errors."""
    context = chromium.new_context(viewport={"width": width, "height": 1000}, device_scale_factor=1)

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(("file:", "data:")):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return context, page


def test_demo_report_renders_offline_with_every_section(demo_report, chromium, tmp_path):
    report = demo_report
    assert report.size < 10 * 2**20 and len(report.run_ids) == 4
    path = tmp_path / "report.html"
    path.write_text(report.html, encoding="utf-8")
    blocked: list[str] = []
    problems: list[str] = []
    context, page = offline_page(chromium, blocked, problems)
    try:
        page.goto(path.as_uri())
        # every chart drawn: each Plotly div holds its SVG
        page.wait_for_function(
            "n => { const d = [...document.querySelectorAll('.plotly-graph-div')];"
            " return d.length === n && d.every(x => x.querySelector('.main-svg')); }",
            arg=report.charts, timeout=60_000,
        )
        for sid in SECTION_IDS:
            section = page.locator(f"section#{sid}")
            assert section.is_visible() and section.locator("h2").inner_text()
        def charts_in(sid: str) -> int:
            return page.locator(f"section#{sid} .plotly-graph-div .main-svg").count()

        assert page.locator("section#data .plotly-graph-div").count() == 4  # people, items, ratings, timeline
        assert charts_in("data") >= 4
        rows = page.locator("section#leaderboard table.board tbody tr")
        assert rows.count() == 4 and "Popularity (reference)" in " ".join(rows.all_inner_texts())
        assert page.locator("section#leaderboard ul.verdicts li").count() == 3  # one verdict per model
        assert charts_in("leaderboard") >= 1 and charts_in("training") >= 1  # ials's curve
        assert page.locator("section#training .onestep").count() == 3  # EASE, ItemKNN, Popularity: one step
        people = page.locator("section#people article.person")
        assert people.count() == 3
        assert page.locator("section#people .because").count() >= 10
        assert page.locator("section#similar .card").count() == 10
        assert page.locator("section#exposure table.board tbody tr").count() == 5  # four runs and the data
        assert charts_in("exposure") >= 1
        assert "Versions and dates" in page.locator("section#methods").inner_text()
        # pseudonyms: the three people appear under them, never under their ids
        text = page.locator("body").inner_text()
        for person, heading in zip(report.people, people.locator("h3").all_inner_texts(), strict=True):
            assert heading.startswith(person["shown"]) and re.fullmatch(r"Person [A-Z2-9]{6}", person["shown"])
            assert f"Person {person['user_id']}" not in text
            assert not re.search(rf"\b(user|person|User|Person) {person['user_id']}\b", text)
        assert blocked == [], f"the report asked the network for {blocked[:5]}"
        assert problems == [], problems
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.mouse.move(0, 0)
        page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True,
                        clip={"x": 0, "y": 0, "width": 1280, "height": 2500})
    finally:
        context.close()


def _path_operations(pdf: bytes) -> int:
    """Lines, curves and rectangles drawn in a PDF's (deflated) content streams."""
    count = 0
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            count += len(re.findall(rb"\b(?:l|c|re)\s", zlib.decompress(match.group(1))))
        except zlib.error:
            continue
    return count


@pytest.mark.skipif(not rp.pdf_available()[0], reason="PDF needs Chromium on the machine")
def test_demo_report_prints_to_pdf_with_its_charts(demo_report):
    started = time.perf_counter()
    pdf = rp.print_pdf(demo_report.html)
    seconds = time.perf_counter() - started
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= 5
    # the same page without Plotly's JavaScript prints without charts: the charts are what draws most
    start = demo_report.html.index('<script type="text/javascript">')
    bare = demo_report.html[:start] + demo_report.html[demo_report.html.index("</script>", start) + 9:]
    assert _path_operations(pdf) > 2 * _path_operations(rp.print_pdf(bare))
    print(f"\nPDF: {len(pdf) / 1e6:.2f} MB, {pages} pages, printed in {seconds:.1f} s")


def test_results_page_offers_the_report_without_waiting_for_it(demo_runs, chromium, tmp_path):
    home, _ = demo_runs
    context = chromium.new_context(viewport={"width": 1440, "height": 1900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        with run_streamlit(home) as server:
            page.goto(f"{server.url}/results")
            page.get_by_role("heading", name="Results", level=1).wait_for(timeout=90_000)
            started = time.perf_counter()
            page.get_by_role("heading", name="Share the results").wait_for(timeout=90_000)
            page.get_by_role("heading", name="Who gets exposure").wait_for()
            page.locator('[data-testid="stPlotlyChart"]', has_text="Where the recommendation slots go").wait_for()
            shown = time.perf_counter() - started
            assert page.get_by_role("button", name="Download PDF").is_enabled()
            started = time.perf_counter()
            with page.expect_download(timeout=180_000) as download:
                page.get_by_role("button", name="Download report (HTML)").click()
            saved = tmp_path / "downloaded.html"
            download.value.save_as(saved)
            waited = time.perf_counter() - started
            html = saved.read_text(encoding="utf-8")
            assert all(f'id="{sid}"' in html for sid in SECTION_IDS)
            assert download.value.suggested_filename.endswith(".html")
            print(f"\nResults page: share/exposure shown {shown:.1f} s after the title; report downloaded "
                  f"{waited:.1f} s after the click ({saved.stat().st_size / 1e6:.2f} MB)")
            tracebacks = [line for line in server.log_tail(200).splitlines() if "Traceback" in line]
            assert not tracebacks, server.log_tail(200)
    finally:
        context.close()
