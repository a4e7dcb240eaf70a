"""The Results, Explore and Recommendations pages in Streamlit's in-process test runner.

Real finished runs are set up through the store and worker API on a temporary ``TASTEMAKER_HOME``: a
small sample of the demo (80 people, with the movie catalogue) gets a Popularity and an Implicit ALS
run, trained by the worker loop itself (``jobs.run_worker(once=True)``, what ``python -m recsys worker
--once`` runs).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from recsys import jobs
from recsys.data import Interactions, load_demo
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
CURRENT_DATASET = "tm_current_dataset"  # ui.state's session key for the dataset every page works on


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, int, dict[str, int]]:
    """A data folder with one sample dataset and two finished runs: (folder, dataset id, model -> run id)."""
    folder = tmp_path_factory.mktemp("results") / "home"
    store = Store(folder)
    inter, catalog = load_demo()
    frame = inter.to_frame()
    frame = frame[frame["user"].isin(inter.user_ids[:80])]
    sample = Interactions.from_frame(frame, "user", "item", "value", "timestamp", explicit=True)
    dataset = store.add_interactions(sample, "Demo sample", catalog=catalog)
    jobs.submit(store, dataset, "popularity", protocol="random", seed=42)
    jobs.submit(store, dataset, "ials", {"epochs": 3, "factors": 16}, protocol="random", seed=42)
    jobs.run_worker(store, once=True)
    runs = store.list_runs(dataset)
    assert set(runs["status"]) == {"done"}, runs[["model", "status", "error"]]
    return folder, dataset, dict(zip(runs["model"], runs["id"].astype(int), strict=True))


def scenes_log(n_listeners: int = 240, per_scene: int = 40, picks: int = 12, seed: int = 5) -> tuple[bytes, bytes]:
    """A music listening log (tab-separated play counts) where each listener plays artists of one of four
    scenes, popular ones more often; and its catalogue of artist names only. Returns the two files."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, per_scene + 1)
    lines = ["userID\tartistID\tweight"]
    for listener in range(n_listeners):
        scene = listener % 4
        for artist in rng.choice(per_scene, picks, replace=False, p=weights / weights.sum()):
            lines.append(f"{1000 + listener}\t{scene * per_scene + artist + 1}\t{int(rng.integers(1, 900))}")
    names = ["id\tname"] + [f"{i + 1}\t{['Velvet', 'Iron', 'Neon', 'Quiet'][i // per_scene]} Band {i % per_scene}"
                             for i in range(4 * per_scene)]
    return "\n".join(lines).encode(), "\n".join(names).encode()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> tuple[Path, int, dict[str, int]]:
    """Runs finished in this order: Random (#1), EASE (#2), a one-pass BPR (#3) and the Popularity yardstick
    (#4, trained with the first run). EASE is the best by NDCG: neither the first run nor the newest."""
    folder = tmp_path_factory.mktemp("scenes") / "home"
    store = Store(folder)
    plays, artists = scenes_log()
    dataset = store.add_dataset(plays, name="Scenes", items=artists, source_name="user_artists.dat")
    for model, params in (("random", {}), ("ease", {}), ("bpr", {"epochs": 1, "learning_rate": 0.001})):
        jobs.submit(store, dataset, model, params, protocol="random", seed=42)
    jobs.run_worker(store, once=True)
    runs = store.list_runs(dataset)
    assert set(runs["status"]) == {"done"}, runs[["model", "status", "error"]]
    return folder, dataset, dict(zip(runs["model"], runs["id"].astype(int), strict=True))


@pytest.fixture
def home(trained, monkeypatch) -> tuple[Path, int, dict[str, int]]:
    monkeypatch.setenv("TASTEMAKER_HOME", str(trained[0]))
    monkeypatch.chdir(ROOT)
    return trained


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def values(array) -> list:
    """A Plotly JSON array: a plain list, or the typed-array form ``{"dtype", "bdata"}`` of Plotly 6."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def title_of(spec: dict) -> str:
    return spec["layout"]["title"]["text"]


def axis_titles(spec: dict) -> tuple[str, str]:
    layout = spec["layout"]
    return layout["xaxis"]["title"]["text"], layout["yaxis"]["title"]["text"]


def assert_no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


# -- empty and broken states ----------------------------------------------------------------------------
@pytest.mark.parametrize("page", ["pages/results.py", "pages/explore.py", "pages/recommend.py"])
def test_without_finished_runs_each_page_points_to_train(page, tmp_path, monkeypatch, open_app):
    monkeypatch.setenv("TASTEMAKER_HOME", str(tmp_path / "fresh"))
    monkeypatch.chdir(ROOT)
    at = open_app(page)
    assert_no_errors(at)
    assert any("Train" in info.value for info in at.info)
    assert any(link.proto.label == "Go to Train" for link in at.get("page_link"))
    assert not at.get("plotly_chart")


def test_results_says_when_models_are_still_training(tmp_path, monkeypatch, open_app):
    folder = tmp_path / "waiting"
    store = Store(folder)
    dataset = store.ensure_demo()
    jobs.submit(store, dataset, "popularity")  # queued; no worker runs in this test
    monkeypatch.setenv("TASTEMAKER_HOME", str(folder))
    monkeypatch.chdir(ROOT)
    at = open_app("pages/results.py", session={CURRENT_DATASET: dataset})
    assert_no_errors(at)
    assert any("Train" in info.value for info in at.info)
    assert any(c.value.startswith("1 model still training or waiting") for c in at.caption)


@pytest.mark.parametrize("page", ["pages/results.py", "pages/explore.py", "pages/recommend.py"])
def test_a_run_whose_files_are_gone_gives_a_clear_error_not_a_traceback(page, tmp_path, monkeypatch, open_app):
    folder = tmp_path / "broken"
    store = Store(folder)
    dataset = store.ensure_demo()
    run = store.create_run(dataset, "popularity", {}, "random", 42, is_baseline=True)
    store.update_run(run, status="done")  # finished in the table, but its files were lost
    monkeypatch.setenv("TASTEMAKER_HOME", str(folder))
    monkeypatch.chdir(ROOT)
    at = open_app(page, session={CURRENT_DATASET: dataset})
    assert not at.exception
    assert at.error and any("no saved model" in e.value or "no metrics" in e.value for e in at.error)


# -- Results ----------------------------------------------------------------------------------------------
def test_results_leaderboard_against_popularity(home, open_app):
    _, dataset, run_ids = home
    at = open_app("pages/results.py", session={CURRENT_DATASET: dataset})
    assert_no_errors(at)
    assert at.title[0].value == "Results"
    table = at.dataframe[0].value
    assert sorted(table["run_id"]) == sorted(run_ids.values())
    assert {"Model", "NDCG@10", "Hit rate@10", "Coverage", "Novelty (bits)", "vs Popularity", "Device"} <= set(table.columns)
    by_model = table.set_index("run_id")
    assert by_model.loc[run_ids["popularity"], "vs Popularity"] == "—"
    assert by_model.loc[run_ids["ials"], "vs Popularity"] in {"▲ better", "▼ worse", "≈ no clear difference"}
    assert (table["NDCG@10"].between(0, 1)).all()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Models compared"] == "2"
    best = table.iloc[0]  # the table lists the best first
    name = best["Model"].split(" · ")[0]
    assert metrics["Best model"] == name  # the headline names the model whose figures it shows
    assert metrics[f"{name}: NDCG@10"] == f"{best['NDCG@10']:.3f}"
    assert metrics[f"{name}: Hit rate@10"] == f"{best['Hit rate@10'] * 100:.1f}%"
    def table_download():
        return [b for b in at.get("download_button") if b.proto.label.startswith("Download the full table")]

    assert not table_download()  # the paired tests of every measure are made on request
    at.button(key="results_csv_prepare").click().run()
    assert_no_errors(at)
    assert table_download() and table_download()[0].proto.label == "Download the full table (CSV)"

    specs = charts(at)
    assert len(specs) == 5  # one measure with error bars, the trade-off scatter, two segment charts, exposure
    for spec in specs:
        assert title_of(spec) and all(axis_titles(spec))
    bars = specs[0]
    assert title_of(bars).startswith("How often a right item is in the top 10")
    assert bars["data"][0]["error_y"]["type"] == "data"
    assert "light and heavy" in title_of(specs[2]) and "niche" in title_of(specs[3])
    for segment_chart in specs[2:4]:
        assert [len(values(trace["x"])) for trace in segment_chart["data"]] == [2, 2]  # two models x two segments


def test_results_other_measure_and_comparison_target(home, open_app):
    _, dataset, run_ids = home
    at = open_app("pages/results.py", session={CURRENT_DATASET: dataset})
    at.selectbox(key="results_metric").select("ndcg").run()
    at.selectbox(key="results_selected").select(run_ids["popularity"]).run()
    at.selectbox(key="results_other").select("coverage").run()
    assert_no_errors(at)
    specs = charts(at)
    assert title_of(specs[0]).startswith("Ranking quality")
    assert axis_titles(specs[1])[0] == "Coverage"
    detail = at.dataframe[1].value.set_index("run_id")
    assert detail.loc[run_ids["popularity"], "vs_selected_badge"] == "—"
    assert list(detail["value"]) == sorted(detail["value"], reverse=True)


# -- Explore ----------------------------------------------------------------------------------------------
def test_explore_heatmaps_more_like_this_and_map(home, open_app):
    _, dataset, run_ids = home
    at = open_app("pages/explore.py", session={CURRENT_DATASET: dataset})
    at.selectbox(key="explore_run").select(run_ids["ials"]).run()  # which run opens first: see the end
    assert_no_errors(at)
    specs = charts(at)
    titles = [title_of(s) for s in specs]
    assert titles[0] == "How alike Implicit ALS finds the 15 most popular items"
    assert titles[1].startswith("How alike Implicit ALS finds 15 people")
    assert titles[2].endswith("most popular items as Implicit ALS sees them")
    item_heat = specs[0]["data"][0]
    assert item_heat["type"] == "heatmap" and len(item_heat["x"]) == 15
    assert "Forrest Gump (1994)" in item_heat["x"]  # labelled with titles, not ids
    for spec in specs:
        assert all(axis_titles(spec))
    legend = {trace["name"].rsplit(" (", 1)[0] for trace in specs[2]["data"]}
    assert legend & {"Drama", "Comedy", "Action"}  # coloured by genre

    picker = at.selectbox(key="like_item")  # every item of the data, most popular first
    data, catalog = Store(home[0]).load_dataset(dataset)
    assert len(picker.options) == data.n_items
    top = str(data.item_ids[np.argmax(data.item_counts())])
    title = catalog.frame.set_index("item_id").loc[top, "title"]
    assert picker.options[0] == f"{title} ({data.item_counts().max()} ratings)"
    picker.set_value("1").run()  # Toy Story's id
    assert_no_errors(at)
    like = at.dataframe[0].value
    assert len(like) == 10 and like["similarity"].is_monotonic_decreasing
    assert "Toy Story (1995)" not in set(like["title"])  # similar to itself goes without saying
    data, _ = Store(home[0]).load_dataset(dataset)
    counts = dict(zip(data.item_ids.astype(str), data.item_counts(), strict=True))
    assert like["interactions"].tolist() == [counts[i] for i in like["item_id"]]  # all data, not training only
    z = item_heat["z"]
    z = np.asarray([values(row) for row in z] if isinstance(z, list) else values(z), dtype=float).reshape(15, 15)
    np.testing.assert_allclose(np.diag(z), 1.0, atol=1e-6)  # an item is fully like itself
    assert any("cosine of their vectors" in c.value for c in at.caption)  # the caption says what the number is


def _popular_ids(home, n: int) -> list[str]:
    data, _ = Store(home[0]).load_dataset(home[1])
    return [str(data.item_ids[i]) for i in np.argsort(-data.item_counts(), kind="stable")[:n]]


def test_explore_chosen_items_and_clustered_map(home, open_app):
    _, dataset, run_ids = home
    at = open_app("pages/explore.py", session={CURRENT_DATASET: dataset})
    at.selectbox(key="explore_run").select(run_ids["ials"]).run()
    at.radio(key="heat_mode").set_value("Pick items").run()
    at.multiselect(key="heat_items").set_value([]).run()
    assert any("Pick at least one item" in info.value for info in at.info)
    first = charts(at)[0]
    assert "chosen" not in title_of(first)  # no heatmap without items
    options = at.multiselect(key="heat_items").options
    ids = list(options)
    at.multiselect(key="heat_items").set_value(_popular_ids(home, 3)).run()
    assert_no_errors(at)
    heat = charts(at)[0]
    assert title_of(heat) == "How alike Implicit ALS finds your chosen items"
    data, _ = Store(home[0]).load_dataset(home[1])
    assert len(heat["data"][0]["x"]) == 3 and len(ids) == data.n_items  # every item can be picked

    at.radio(key="map_method").set_value("tsne")
    at.slider(key="map_n").set_value(100).run()
    assert_no_errors(at)
    item_map = charts(at)[-1]
    assert title_of(item_map) == "The 100 most popular items as Implicit ALS sees them"
    assert axis_titles(item_map) == ("t-SNE direction 1", "t-SNE direction 2")
    assert sum(len(values(trace["x"])) for trace in item_map["data"]) == 100


def test_explore_with_popularity_explains_there_is_no_similarity(home, open_app):
    _, dataset, run_ids = home
    at = open_app("pages/explore.py", session={CURRENT_DATASET: dataset})
    at.selectbox(key="explore_run").select(run_ids["popularity"]).run()
    assert_no_errors(at)
    assert any("no notion of similar items" in info.value for info in at.info)
    titles = [title_of(s) for s in charts(at)]
    assert len(titles) == 2 and "people" in titles[0]  # the people heatmap and the map still work


# -- Recommendations ----------------------------------------------------------------------------------
def test_recommendations_history_reasons_and_side_by_side(home, open_app):
    _, dataset, run_ids = home
    at = open_app("pages/recommend.py", session={CURRENT_DATASET: dataset})
    at.selectbox(key="rec_run").select(run_ids["ials"]).run()  # which run opens first: see the end
    assert_no_errors(at)
    at.text_input(key="rec_user_query").set_value("7").run()
    user = at.selectbox(key="rec_user").value
    assert "7" in str(user)
    history, recs, side = (df.value for df in at.dataframe[:3])
    assert len(history) > 0 and {"title", "genres", "rating", "when"} <= set(history.columns)
    assert len(recs) == 10 and recs["rank"].tolist() == list(range(1, 11))
    assert recs["because"].str.startswith("Because you liked ").any()
    # each reason is read in full, never cut: Streamlit wraps a cell's text in rows taller than 4rem (64 px)
    assert at.dataframe[1].proto.row_height > 64
    # the serving model trained on everything: nothing the person already has comes back, and no
    # "picked it later" column, which only means something for a model that did not see it all
    assert not recs["item_id"].isin(set(history["item_id"])).any()
    assert not recs["picked_later"].any()
    assert any(c.value == "Everything they rated is left out." for c in at.caption)  # in the data's words
    overlap = {m.label: m.value for m in at.metric}["In both lists"]
    assert overlap.endswith("of 10")
    assert list(side.columns)[0] == "rank" and len(side) == 10

    at.text_input(key="rec_user_query").set_value("no such person").run()
    assert not at.exception
    assert any("id contains “no such person”" in w.value for w in at.warning)


def test_persona_answers_from_every_model_and_export(home, open_app):
    _, dataset, _ = home
    at = open_app("pages/recommend.py", session={CURRENT_DATASET: dataset})
    assert any("Pick at least one item" in info.value for info in at.info)
    at.multiselect(key="persona_items").set_value(["1", "260"]).run()  # Toy Story, Star Wars
    assert_no_errors(at)
    persona = at.dataframe[-1].value
    assert list(persona.columns) == ["rank", "Implicit ALS", "Popularity"]
    assert len(persona) == 10
    assert "Toy Story (1995)" not in set(persona["Implicit ALS"])  # what you love is not suggested back

    at.button(key="export_prepare").click().run()
    assert_no_errors(at)
    download = at.get("download_button")[0]
    assert download.proto.label == "Download 80 people × 10 recommendations"


# -- every page opens on the best run --------------------------------------------------------------------
def test_every_page_opens_on_the_best_run_not_the_newest(scenes, monkeypatch, open_app):
    folder, dataset, run_ids = scenes
    monkeypatch.setenv("TASTEMAKER_HOME", str(folder))
    monkeypatch.chdir(ROOT)
    runs = Store(folder).list_runs(dataset).set_index("model")
    assert runs["ndcg"].idxmax() == "ease"
    best = run_ids["ease"]
    assert best not in (min(run_ids.values()), max(run_ids.values()))  # neither the first nor the newest

    at = open_app("pages/results.py", session={CURRENT_DATASET: dataset})
    assert_no_errors(at)
    assert at.selectbox(key="results_selected").value == best
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Best model"] == "EASE"
    assert metrics["EASE: NDCG@10"] == f"{runs.loc['ease', 'ndcg']:.3f}"
    assert at.dataframe[0].value["run_id"].iloc[0] == best  # the table agrees with the headline

    at = open_app("pages/explore.py", session={CURRENT_DATASET: dataset})
    assert_no_errors(at)
    assert at.selectbox(key="explore_run").value == best

    at = open_app("pages/recommend.py", session={CURRENT_DATASET: dataset})
    assert_no_errors(at)
    assert at.selectbox(key="rec_run").value == best
    assert at.selectbox(key="export_run").value == best


def test_results_exposure_view_shows_the_reports_numbers_and_offers_the_report(home, open_app):
    from recsys import exposure
    from recsys.report import _board, pdf_available

    folder, dataset, run_ids = home
    at = open_app("pages/results.py", session={CURRENT_DATASET: dataset})
    assert_no_errors(at)
    assert "Who gets exposure" in [h.value for h in at.subheader]
    store = Store(folder)
    runs = store.list_runs(dataset)
    pairs = [(int(r.id), _board().model_title(r.model)) for r in runs.itertuples()]
    expected = exposure.exposure_display(exposure.exposure_table(store, dataset, pairs), "creators")
    shown = next(df.value for df in at.dataframe if "Catalogue shown" in df.value.columns)
    assert sorted(shown["Model"]) == sorted(expected["Model"])
    assert shown.set_index("Model").sort_index().equals(expected.set_index("Model").sort_index())
    assert shown["Model"].iloc[-1] == "The data itself"
    items = [spec for spec in charts(at) if title_of(spec) == "Where the recommendation slots go"]
    assert len(items) == 1 and all(axis_titles(items[0]))
    assert not any("biggest creators" in title_of(spec) for spec in charts(at))  # movies: no creator column
    labels_of_buttons = [b.proto.label for b in at.get("download_button")]
    assert "Download report (HTML)" in labels_of_buttons
    ok, why = pdf_available()
    if ok:
        assert "Download PDF" in labels_of_buttons
    else:
        assert any(c.value.startswith("HTML only") for c in at.caption)
