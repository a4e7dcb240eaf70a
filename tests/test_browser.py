"""End to end in a real browser, on music rather than movies: a synthetic listening log with artist names
and its catalogue (benchmarks/listening.py, shaped like Last.fm's files). A first visit straight to /train
(or /) on a fresh server goes through the app, behind its password gate when one is set; a catalogue
uploaded as interactions is stopped before Save and, saved anyway, its run fails with the reason on the
page; the real log is saved, survives a reload and opens in a second tab; a model trains and is compared,
explored and asked for recommendations, including a persona built from an artist outside the 2,000 most
popular; back and forward land on the views they left, each on its own dataset. A screenshot of every page
goes to docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from benchmarks.listening import plays_file
from benchmarks.listening import write as write_listening_log
from recsys.models import MODELS
from recsys.store import Store
from ui import access
from ui.words import model_label

ROOT = Path(__file__).resolve().parents[1]
LISTENERS, ARTISTS = 600, 2600  # about 14,600 plays on more than 2,000 artists
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


LIVE = '[data-testid="stElementContainer"]:not([data-stale="true"])'  # an element of the current run


def settle(page, timeout: float = 10_000) -> None:
    """Give Streamlit a moment to finish the current run: a short pause for a rerun already asked for to
    begin, then until the 'running' badge is gone and no element is stale (the last run's elements stay
    on screen, marked ``data-stale``, until the new run replaces them). Never fails."""
    page.wait_for_timeout(250)
    try:
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
            " && !document.querySelector('[data-testid=\"stElementContainer\"][data-stale=\"true\"]')",
            timeout=timeout,
        )
    except PlaywrightTimeout:
        pass


def click_until(page, target, effect, attempts: int = 3, timeout: float = 10_000) -> None:
    """Click TARGET until EFFECT (a locator) shows: a click on an element that a rerun or a fragment's
    refresh is replacing at that moment is lost, so it is clicked again once the page has settled."""
    for attempt in range(attempts):
        target.click()
        try:
            effect.wait_for(timeout=timeout)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            settle(page)


def type_name(page, label: str, value: str, attempts: int = 3) -> None:
    """Type VALUE into the text box LABEL and commit it with Enter, until the settled page holds exactly one
    such box with that value. A rerun that was still on its way can replace the box being typed into
    (Streamlit keeps the stale one on screen until the run ends), so a lost value is typed again."""
    settled_with_value = """([label, value]) => {
        const boxes = [...document.querySelectorAll('input[aria-label="' + label + '"]')];
        return boxes.length === 1 && boxes[0].value === value
            && !document.querySelector('[data-testid="stStatusWidget"]');
    }"""
    for attempt in range(attempts):
        page.wait_for_function(
            "(label) => document.querySelectorAll('input[aria-label=\"' + label + '\"]').length === 1", arg=label)
        box = page.get_by_role("textbox", name=label)
        box.fill(value)
        box.press("Enter")
        try:
            page.wait_for_function(settled_with_value, arg=[label, value], timeout=10_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover tooltips in the pictures
    settle(page)
    time.sleep(0.6)  # let charts finish their entry animation
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def upload_interactions(page, path: Path) -> None:
    page.get_by_test_id("stFileUploader").filter(has_text="Interactions file").locator(
        'input[type="file"]').set_input_files(str(path))
    page.get_by_text("1 · Confirm the columns").wait_for()


def sidebar_dataset(page, name: str) -> None:
    page.get_by_test_id("stSidebar").get_by_text(name, exact=True).wait_for()


def on_dataset(page, name: str, instead_of: str) -> None:
    """Wait until the sidebar names dataset NAME and no longer INSTEAD_OF (the last run's sidebar stays on
    screen until the new run draws its own)."""
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text(name, exact=True).wait_for()
    sidebar.get_by_text(instead_of, exact=True).wait_for(state="detached")


def pick_only(page, model: str) -> None:
    settle(page)  # a dataset just switched to redraws the model list under its own key
    models = page.locator(f"{LIVE} [data-testid='stMultiSelect']").first
    click_until(page, models.get_by_role("button", name="Clear all"), page.get_by_text("Pick at least one model"))
    models.get_by_role("combobox").fill(model_label(model))
    page.get_by_role("option", name=model_label(model)).first.click()
    page.keyboard.press("Escape")


def rare_artist(store: Store, dataset: int) -> str:
    """The name of an artist ranked past the 2,000 most played, in the order every picker lists them."""
    inter, catalog = store.load_dataset(dataset)
    order = np.argsort(-inter.item_counts(), kind="stable")
    assert len(order) > 2_100
    titles = catalog.frame.set_index("item_id")["title"]
    return str(titles[str(inter.item_ids[order[2_100]])])


@pytest.mark.parametrize(("path", "heading"), [("train", "Train models"), ("", "Your data")])
def test_a_first_visit_straight_to_a_page_goes_through_the_app(path, heading, start_server, browser_page, tmp_path):
    """The first request after the server starts (its own server, so it is the first) opens a page with a
    dataset in the URL: it must get the app's navigation and sidebar, on that dataset, with the URL kept
    (Streamlit's old pages-folder mode would run the file on its own: pages named after files, no sidebar)."""
    home = tmp_path / "home"
    store = Store(home)
    shared = store.add_dataset(plays_file(seed=1), source_name="shared.dat", name="Shared listening log")
    store.add_dataset(plays_file(seed=2), source_name="newer.dat", name="Newer listening log")  # a new tab's pick
    with start_server(home) as server:
        page = browser_page
        page.goto(f"{server.url}/{path}?dataset={shared}")
        wait_for_app(page, heading)
        nav = page.get_by_test_id("stSidebarNav")
        nav.get_by_text("Recommendations", exact=True).wait_for()  # the app's page titles, not file names
        for file_name in ("app", "recommend"):
            assert nav.get_by_text(file_name, exact=True).count() == 0
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("Training worker").wait_for()
        sidebar_dataset(page, "Shared listening log")
        assert re.search(rf"[?&]dataset={shared}(&|$)", page.url), page.url
        assert page.url.startswith(f"{server.url}/{path}?"), page.url
        assert page.get_by_text("Page not found").count() == 0
        assert "Traceback" not in server.log_tail(200)


def test_a_first_visit_straight_to_a_page_asks_for_the_password(start_server, browser_page, tmp_path, monkeypatch):
    """On a server with a password, the first request after it starts is /train: the password is asked
    before anything of the page is sent (the page file run on its own would skip app.py's gate)."""
    monkeypatch.setenv(access.PASSWORD_ENV, "correct horse battery staple")
    home = tmp_path / "home"
    home.mkdir()
    with start_server(home) as server:
        page = browser_page
        page.goto(f"{server.url}/train")
        page.locator('input[type="password"]').wait_for(timeout=FIRST_VISIT_MS)
        settle(page)
        assert page.get_by_role("heading", name="Train models").count() == 0
        assert page.get_by_test_id("stSidebarNav").count() == 0


def test_music_data_end_to_end(streamlit_server, browser_page, tmp_path):
    page = browser_page
    model = iterative_model()
    files = write_listening_log(tmp_path / "listening", listeners=LISTENERS, artists=ARTISTS)

    # -- Data: the catalogue uploaded as interactions is stopped before Save -----------------------------
    page.goto(streamlit_server.url)
    wait_for_app(page, "Your data")
    page.get_by_role("tab", name="Add your own").click()
    upload_interactions(page, files["artists"])
    page.get_by_role("button", name="Check the data").click()
    page.get_by_text("it looks like an item catalogue").wait_for()
    save = page.get_by_role("button", name="Save dataset")
    assert save.is_disabled()
    page.get_by_text("Save it anyway: this file").click()
    page.get_by_text("Saving needs the choice above").wait_for(state="detached")  # the tick's rerun is done
    type_name(page, "Dataset name", "Artists by mistake")
    enabled = page.locator(f"{LIVE} button:enabled", has_text="Save dataset")
    enabled.wait_for()
    enabled.click()
    page.get_by_text("Saved as").wait_for()
    sidebar_dataset(page, "Artists by mistake")

    # -- Train: its run fails, and the card says why in plain words ---------------------------------------
    open_page(page, "Train", "Train models")
    pick_only(page, "itemknn")
    page.get_by_role("button", name=re.compile(r"^Start training 1 model")).click()
    failure = page.get_by_text("nothing to test the model on")
    failure.wait_for(timeout=TRAINING_MS)
    assert page.get_by_text("Check on the Data page that this file is a log of who did what").first.is_visible()

    # -- Data: the real log and its catalogue --------------------------------------------------------------
    open_page(page, "Data", "Your data")
    page.get_by_role("tab", name="Add your own").click()
    upload_interactions(page, files["plays"])
    catalogue = page.get_by_test_id("stFileUploader").filter(has_text="Item catalogue")
    catalogue.locator('input[type="file"]').set_input_files(str(files["artists"]))
    page.get_by_text(re.compile(r"Catalogue: [\d,]+ items described")).wait_for()
    assert page.get_by_role("combobox", name="Who: the person's id").input_value() == "userID"
    assert page.get_by_role("combobox", name="What: the item's id").input_value() == "artistID"
    page.get_by_role("button", name="Check the data").click()
    page.get_by_text("3 · Save it").wait_for()
    page.locator('[data-testid="stPlotlyChart"]:visible', has_text="How are plays spread?").wait_for()
    assert page.get_by_text("it looks like").count() == 0  # nothing wrong with this one
    shoot(page, "data-upload")
    type_name(page, "Dataset name", "Label plays")
    page.locator(f"{LIVE} button", has_text="Save dataset").click()
    page.get_by_text("Saved as").wait_for()
    sidebar_dataset(page, "Label plays")

    # -- a reload, and a second tab, stay on it ------------------------------------------------------------
    assert re.search(r"[?&]dataset=\d+", page.url), page.url
    page.reload()
    wait_for_app(page, "Your data")
    sidebar_dataset(page, "Label plays")
    second = page.context.new_page()
    second.goto(streamlit_server.url)
    wait_for_app(second, "Your data")
    sidebar_dataset(second, "Label plays")
    second.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=FIRST_VISIT_MS)
    assert second.get_by_text("How active are listeners?").first.is_visible()
    second.close()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=FIRST_VISIT_MS)
    shoot(page, "data")

    # -- Train: one model that learns epoch by epoch -------------------------------------------------------
    open_page(page, "Train", "Train models")
    pick_only(page, model)
    page.get_by_text("How the plays are used").wait_for()
    start = page.get_by_role("button", name=re.compile(r"^Start training 1 model"))
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
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("nothing waiting").or_(sidebar.get_by_text("Starts by itself")).first.wait_for()
    settle(page)
    if not shot_live:  # it trained too fast to be caught live: show the finished run's curves
        click_until(page, finished, live.first)
        shoot(page, "train")
    store = Store(streamlit_server.home)
    saved = store.list_datasets().set_index("name")
    assert saved.loc["Label plays", "has_catalog"]
    runs = store.list_runs(int(saved.loc["Label plays", "id"]))
    assert set(runs["status"]) == {"done"}, runs[["model", "status", "error"]]
    assert {model, "popularity"} <= set(runs["model"])

    # -- Results: the leaderboard, with Popularity as the yardstick ----------------------------------------
    open_page(page, "Results", "Results")
    page.get_by_role("heading", name="Leaderboard").wait_for()
    page.get_by_test_id("stDataFrame").first.wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    shoot(page, "results")

    # -- Explore: the map, coloured by popularity (this catalogue has no genres) ---------------------------
    open_page(page, "Explore", "Explore")
    # every page opens on the best run; on this small sample that can be Popularity, which has no notion of
    # similar items: look inside the model trained above
    page.get_by_test_id("stSelectbox").filter(has_text="Model").click()
    page.get_by_role("option", name=re.compile("^" + re.escape(model_label(model)))).click()
    page.locator('[data-testid="stPlotlyChart"]', has_text="How alike").first.wait_for()
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for()
    page.get_by_role("tab", name="Map of the catalogue").click()
    page.locator('[data-testid="stPlotlyChart"]:visible', has_text="Biggest hits").wait_for()
    shoot(page, "explore")

    # -- Recommendations: one listener's history beside their top picks, then a persona --------------------
    open_page(page, "Recommendations", "Recommendations")
    page.get_by_role("textbox", name="Find a listener by id").fill("1")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=re.compile(r"^Top \d+ from")).wait_for()
    page.get_by_role("heading", name="What they played").wait_for()
    wait_for_app(page, "Recommendations")
    page.locator('[data-testid="stDataFrame"]:visible').nth(1).wait_for()  # the history and the picks
    shoot(page, "recommendations")

    name = rare_artist(store, int(saved.loc["Label plays", "id"]))
    page.get_by_role("tab", name="Persona").click()
    persona = page.get_by_test_id("stMultiSelect").filter(has_text="Artists you love")
    persona.get_by_role("combobox").fill(name)
    page.get_by_role("option", name=re.compile(re.escape(name))).first.click()
    page.keyboard.press("Escape")
    panel = page.get_by_role("tabpanel", name="Persona")
    panel.get_by_test_id("stDataFrame").wait_for(timeout=FIRST_VISIT_MS)
    assert panel.get_by_text("Pick at least one artist").count() == 0

    # -- back and forward land on the same views: the dataset comes from the URL ---------------------------
    open_page(page, "Train", "Train models")
    own_url = page.url
    page.get_by_role("combobox", name="Dataset", exact=True).click()
    page.get_by_role("option", name="MovieLens (demo)").click()
    on_dataset(page, "MovieLens (demo)", instead_of="Label plays")
    demo_url = page.url
    assert demo_url != own_url and "/train?" in demo_url, (own_url, demo_url)
    page.go_back()
    wait_for_app(page, "Train models")
    on_dataset(page, "Label plays", instead_of="MovieLens (demo)")
    assert page.url == own_url
    # the Recommendations page, still on the listening log. Streamlit may leave an extra history entry of a
    # page between its bare address and the one the app adds ?dataset= to (timing decides): each step back
    # through such an entry must be on the same dataset too.
    for _ in range(3):
        page.go_back()
        try:
            page.get_by_role("heading", name="Recommendations", level=1).wait_for(timeout=10_000)
            break
        except PlaywrightTimeout:
            on_dataset(page, "Label plays", instead_of="MovieLens (demo)")
    wait_for_app(page, "Recommendations")
    on_dataset(page, "Label plays", instead_of="MovieLens (demo)")
    for _ in range(5):  # forward again, through the same entries, to the demo's Train page
        page.go_forward()
        settle(page)
        if page.url == demo_url:
            break
    wait_for_app(page, "Train models")
    on_dataset(page, "MovieLens (demo)", instead_of="Label plays")
    assert page.url == demo_url

    problems = [line for line in streamlit_server.log_tail(200).splitlines() if "Traceback" in line]
    assert not problems, streamlit_server.log_tail(200)


def test_a_short_tuning_run_shows_its_trials_as_they_end(streamlit_server, browser_page):
    """Tune item-KNN with the smallest budget: the trials appear on the Train page while it searches
    (a sentence, the search chart, the table); cancelling keeps them."""
    page = browser_page
    page.goto(streamlit_server.url)
    wait_for_app(page, "Your data")
    open_page(page, "Train", "Train models")
    page.get_by_role("combobox", name="Dataset", exact=True).click()
    page.get_by_role("option", name="MovieLens (demo)").click()  # whatever the tab opened on
    wait_for_app(page, "Train models")
    page.get_by_test_id("stSidebar").get_by_text("MovieLens (demo)", exact=True).wait_for()
    pick_only(page, "itemknn")
    page.get_by_text("Tune automatically").click()
    budget = page.get_by_test_id("stSlider").filter(has_text="Time to spend searching")
    budget.get_by_role("slider").focus()
    page.keyboard.press("Home")  # the smallest budget: 1 min
    page.get_by_text(re.compile(r"settings are searched for 1 min")).wait_for()
    settle(page)
    start = page.get_by_role("button", name=re.compile(r"^Start training 1 model"))
    start.click()
    trials = page.get_by_text(re.compile(r"^([2-9]|\d\d+) trials so far"))
    trials.first.wait_for(timeout=TRAINING_MS)
    page.locator('[data-testid="stPlotlyChart"]', has_text="How the search went").first.wait_for()
    shoot(page, "train-tuning")
    store = Store(streamlit_server.home)
    run = next(r for r in store.run_records() if r["tune"] and r["status"] == "running")
    assert run["tune"]["minutes"] == 1.0 and len(store.trials(int(run["id"]))) >= 2
    page.get_by_role("button", name="Cancel").first.click()
    page.get_by_text("Nothing is training right now").wait_for(timeout=TRAINING_MS)
    after = store.run(int(run["id"]))
    assert after["status"] == "cancelled" and "Cancelled while tuning" in after["error"], after
    assert len(store.trials(int(run["id"]))) >= 2
