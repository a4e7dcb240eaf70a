"""End to end in a real browser: upload a file, confirm its columns, save it, train a model, watch it learn,
read the leaderboard, open one person's recommendations; a screenshot of every page goes to
docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from recsys.models import MODELS
from recsys.store import Store
from ui.words import model_label

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "assets" / "datasets" / "ml-latest-small"
RATINGS, MOVIES = DEMO / "ratings.csv", DEMO / "movies.csv"
SCREENSHOTS = ROOT / "docs" / "screenshots"
FIRST_VISIT_MS = 60_000  # the first page of a fresh server imports torch and sets up the demo
TRAINING_MS = 90_000

pytestmark = pytest.mark.browser


def iterative_model() -> str:
    """A model that trains epoch by epoch (so it draws a loss curve), preferring the quickest."""
    for name in ("ials", "mf", "bpr", "multvae"):
        if MODELS[name].iterative:
            return name
    raise AssertionError("no model trains epoch by epoch, so there is no loss curve to watch")


def wait_for_app(page, heading: str, timeout: float = FIRST_VISIT_MS) -> None:
    """Wait until the page's title is shown and Streamlit has finished running the script."""
    page.get_by_role("heading", name=heading, level=1).wait_for(timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )


def open_page(page, title: str, heading: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    wait_for_app(page, heading)


def settle(page, timeout: float = 10_000) -> None:
    """Give Streamlit a moment to finish the current run (the 'running' badge gone); never fails."""
    try:
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
        )
    except PlaywrightTimeout:
        pass


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover tooltips in the pictures
    settle(page)
    time.sleep(0.6)  # let charts finish their entry animation
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_upload_train_compare_and_recommend(streamlit_server, browser_page, tmp_path):
    page = browser_page
    model = iterative_model()
    sample = tmp_path / "ratings-sample.csv"
    pd.read_csv(RATINGS, nrows=5000).to_csv(sample, index=False)

    # -- Data: the demo is there on a fresh start --------------------------------------------------------
    page.goto(streamlit_server.url)
    wait_for_app(page, "Your data")
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=FIRST_VISIT_MS)
    assert page.get_by_text("MovieLens (demo)").first.is_visible()
    shoot(page, "data")

    # -- Data: upload, confirm the detected columns, check, save -----------------------------------------
    page.get_by_role("tab", name="Add your own").click()
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Interactions file")
    uploader.locator('input[type="file"]').set_input_files(str(sample))
    page.get_by_text("1 · Confirm the columns").wait_for()
    catalogue = page.get_by_test_id("stFileUploader").filter(has_text="Item catalogue")
    catalogue.locator('input[type="file"]').set_input_files(str(MOVIES))
    page.get_by_text(re.compile(r"Catalogue: [\d,]+ items described")).wait_for()
    assert page.get_by_role("combobox", name="Who: the person's id").input_value() == "userId"
    assert page.get_by_role("combobox", name="What: the item's id").input_value() == "movieId"
    page.get_by_role("button", name="Check the data").click()
    page.get_by_text("3 · Save it").wait_for()
    page.locator('[data-testid="stPlotlyChart"]:visible', has_text="Activity over time").wait_for()
    shoot(page, "data-upload")
    page.get_by_role("textbox", name="Dataset name").fill("Ratings sample")
    page.get_by_role("button", name="Save dataset").click()
    page.get_by_text("Saved as").wait_for()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Ratings sample").wait_for()

    # -- Train: one model that learns epoch by epoch -------------------------------------------------------
    open_page(page, "Train", "Train models")
    models = page.get_by_test_id("stMultiSelect")
    models.get_by_role("button", name="Clear all").click()
    page.get_by_text("Pick at least one model").wait_for()
    models.get_by_role("combobox").fill(model_label(model))
    page.get_by_role("option", name=model_label(model)).first.click()
    page.keyboard.press("Escape")
    start = page.get_by_role("button", name=re.compile(r"^Start training 1 model"))
    start.wait_for()
    start.click()
    live = page.locator('[data-testid="stPlotlyChart"]', has_text="Loss (lower is better)")
    finished = page.get_by_text("Training curves of a finished run")
    live.or_(finished).first.wait_for(timeout=TRAINING_MS)
    shot_live = False
    if live.count():
        try:  # a picture with both curves is nicer: wait a little for the first quality check
            page.get_by_text("Latest quality check").first.wait_for(timeout=20_000)
        except PlaywrightTimeout:
            pass
        if live.count():
            shoot(page, "train")
            shot_live = True
    page.get_by_text("Nothing is training right now").wait_for(timeout=TRAINING_MS)
    finished.wait_for()
    # Once nothing trains, the page refreshes itself whole (sidebar included) and stops polling: wait for
    # that before leaving, or the refresh could land after the click on the next page.
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("nothing waiting").or_(sidebar.get_by_text("Starts by itself")).first.wait_for()
    settle(page)
    if not shot_live:  # it trained too fast to be caught live: show the finished run's curves
        finished.click()
        live.first.wait_for()
        shoot(page, "train")
    store = Store(streamlit_server.home)
    assert store.list_datasets().iloc[-1]["has_catalog"]
    runs = store.list_runs()
    assert set(runs["status"]) == {"done"}, runs[["model", "status", "error"]]
    assert {model, "popularity"} <= set(runs["model"])

    # -- Results: the leaderboard, with Popularity as the yardstick ----------------------------------------
    open_page(page, "Results", "Results")
    page.get_by_role("heading", name="Leaderboard").wait_for()
    board = page.get_by_test_id("stDataFrame").first
    board.wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    shoot(page, "results")

    # -- Explore ---------------------------------------------------------------------------------------------
    open_page(page, "Explore", "Explore")
    # every page opens on the best run; on this small sample that can be Popularity, which has no notion of
    # similar items: look inside the model trained above
    page.get_by_test_id("stSelectbox").filter(has_text="Model").click()
    page.get_by_role("option", name=re.compile("^" + re.escape(model_label(model)))).click()
    page.locator('[data-testid="stPlotlyChart"]', has_text="How alike").first.wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    shoot(page, "explore")

    # -- Recommendations: one person's history beside their top picks, with reasons -----------------------
    open_page(page, "Recommendations", "Recommendations")
    page.get_by_role("textbox", name="Find a person by id").fill("1")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile(r"^Top \d+ from")).wait_for()
    page.get_by_role("heading", name="What they picked").wait_for()
    wait_for_app(page, "Recommendations")
    shoot(page, "recommendations")

    problems = [line for line in streamlit_server.log_tail(200).splitlines() if "Traceback" in line]
    assert not problems, streamlit_server.log_tail(200)
