"""The Data and Train pages in Streamlit's in-process test runner, against a temporary TASTEMAKER_HOME."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recsys import jobs
from recsys.models import MODELS
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
RATINGS = ROOT / "assets" / "datasets" / "ml-latest-small" / "ratings.csv"


def sample_csv(rows: int = 3000) -> bytes:
    frame = pd.read_csv(RATINGS, nrows=rows)
    return frame.to_csv(index=False).encode()


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def values(array) -> list:
    """A Plotly JSON array: a plain list, or the typed-array form ``{"dtype", "bdata"}`` of Plotly 6."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def upload(at: AppTest, name: str, data: bytes) -> None:
    at.file_uploader(key="upload_interactions").set_value((name, data, "text/csv"))
    at.run()


# -- Data page ---------------------------------------------------------------------------------------
def test_fresh_start_opens_on_the_demo_with_report_and_titled_charts(home, open_app):
    at = open_app()
    assert at.title[0].value == "Your data"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Ratings"] == "100,836"
    assert metrics["Viewers"] == "610"  # the demo's own words: movie ratings by viewers
    assert metrics["Movies"] == "9,724"
    text = " ".join(m.value for m in at.markdown)
    assert "Suggested way to test" in text and "Models worth trying" in text
    specs = chart_specs(at)
    assert len(specs) == 4
    for spec in specs:
        layout = spec["layout"]
        assert layout["title"]["text"]
        assert layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"]
    titles = {spec["layout"]["title"]["text"] for spec in specs}
    assert "How active are viewers?" in titles and "Activity over time" in titles
    per_user = next(s for s in specs if s["layout"]["title"]["text"] == "How active are viewers?")
    assert per_user["layout"]["yaxis"]["type"] == "log"
    assert sum(values(per_user["data"][0]["y"])) == 610  # every person lands in exactly one bar


def test_sidebar_shows_dataset_device_and_worker(home, open_app):
    at = open_app()
    sidebar_html = " ".join(str(el.proto) for el in at.sidebar.get("html"))
    assert "MovieLens (demo)" in sidebar_html
    assert "Compute" in sidebar_html and "Training worker" in sidebar_html


def test_upload_confirm_columns_check_and_save(home, open_app):
    at = open_app()
    upload(at, "my-ratings.csv", sample_csv())
    assert not at.exception and not at.error
    columns = {sb.key: sb.value for sb in at.selectbox if sb.key and sb.key.startswith("column_")}
    assert columns == {"column_user": "userId", "column_item": "movieId", "column_rating": "rating",
                       "column_time": "timestamp"}
    at.button(key="check_data").click().run()
    assert not at.exception and not at.error
    assert "2 · What we found" in [s.value for s in at.subheader]
    assert len(at.get("plotly_chart")) == 8  # the demo's four and the upload's four
    assert at.text_input(key="dataset_name").value == "my-ratings"
    at.text_input(key="dataset_name").set_value("Pilot ratings")
    at.button(key="save_dataset").click().run()
    assert not at.exception and not at.error
    assert any("Pilot ratings" in s.value for s in at.success)
    saved = Store(home).list_datasets()
    assert list(saved["name"]) == ["MovieLens (demo)", "Pilot ratings"]
    assert saved.iloc[1]["n_interactions"] == 3000
    assert at.session_state["tm_current_dataset"] == int(saved.iloc[1]["id"])


def test_a_catalogue_says_who_made_each_item_detected_and_changeable(home, tmp_path, open_app):
    from benchmarks.listening import track_files

    log, catalogue = track_files(tmp_path)
    at = open_app()
    upload(at, "plays.csv", log.read_bytes())
    at.file_uploader(key="upload_catalog").set_value(("tracks.csv", catalogue.read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error
    picker = next(sb for sb in at.selectbox if sb.key and sb.key.startswith("catalog_creator_"))
    assert picker.value == "artist"  # found by its name
    picker.select("label").run()  # the record label instead
    at.button(key="check_data").click().run()
    at.button(key="save_dataset").click().run()
    assert not at.exception and not at.error
    store = Store(home)
    dataset = int(store.list_datasets().iloc[-1]["id"])
    _, saved = store.load_dataset(dataset)
    assert saved.report["columns"]["creator"] == "label"
    assert set(saved.frame["creator"]) == set(pd.read_csv(catalogue)["label"])


def test_changed_column_needs_a_new_check(home, open_app):
    at = open_app()
    upload(at, "my-ratings.csv", sample_csv(500))
    at.button(key="check_data").click().run()
    at.selectbox(key="column_time").set_value("— none —").run()
    assert not at.exception
    assert any("check the data again" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "save_dataset"]


def test_a_bad_file_shows_an_error_not_a_traceback(home, open_app):
    at = open_app()
    upload(at, "photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    assert not at.exception
    assert at.error and "binary" in at.error[0].value
    assert not [b for b in at.button if b.key == "check_data"]


def test_a_wrong_column_choice_shows_an_error(home, open_app):
    at = open_app()
    table = pd.DataFrame({"user": [f"u{i % 40}" for i in range(400)], "item": [f"i{i % 70}" for i in range(400)],
                          "comment": ["great", "meh", "loved it", "no"] * 100})
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    upload(at, "notes.csv", buffer.getvalue().encode())
    at.selectbox(key="column_rating").set_value("comment").run()
    at.button(key="check_data").click().run()
    assert not at.exception
    assert at.error and "comment" in at.error[0].value


def test_rename_and_delete_a_dataset(home, open_app):
    store = Store(home)
    store.ensure_demo()
    extra = store.add_dataset(sample_csv(800), name="Scratch", source_name="scratch.csv")
    at = open_app()
    at.selectbox(key="rename_target").set_value(extra).run()
    at.text_input(key="rename_name").set_value("Scratch v2")
    at.button(key="rename_dataset").click().run()
    assert not at.exception and not at.error
    assert store.dataset(extra)["name"] == "Scratch v2"
    at.selectbox(key="delete_target").set_value(extra).run()
    assert at.button(key="delete_dataset").disabled  # not before the box is ticked
    at.checkbox(key="delete_confirm").check().run()
    at.button(key="delete_dataset").click().run()
    assert not at.exception and not at.error
    assert list(store.list_datasets()["name"]) == ["MovieLens (demo)"]


# -- Train page --------------------------------------------------------------------------------------
def test_train_page_preselects_the_suggested_split_and_estimates(home, open_app):
    at = open_app("pages/train.py")
    assert at.title[0].value == "Train models"
    demo = Store(home).list_datasets().iloc[0]
    protocol = at.selectbox(key=f"protocol_{demo['id']}")
    assert protocol.value == demo["report"]["suggested_split"]
    models = at.multiselect(key=f"models_{demo['id']}")
    assert models.value and "popularity" not in models.value
    estimate = at.get("dataframe")[0].value
    assert list(estimate["Model"]) and set(estimate["Fits"]) <= {"Yes", "No"}
    assert any(b.key == "start_training" for b in at.button)


def shown_text(at: AppTest) -> str:
    """Everything the page shows or tells (labels, help, placeholders, options, text), without widget keys."""
    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    texts = []
    for node in walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None or not hasattr(proto, "ListFields"):
            continue
        copy = type(proto)()
        copy.CopyFrom(proto)
        for field in ("id", "form_id"):
            if field in {f.name for f, _ in copy.ListFields()}:
                copy.ClearField(field)
        texts.append(str(copy))
    return "\n".join(texts)


def test_train_page_settings_come_from_the_declarations_in_plain_words(home, open_app):
    at = open_app("pages/train.py")
    demo_id = int(Store(home).list_datasets().iloc[0]["id"])
    picker = at.multiselect(key=f"models_{demo_id}")
    picker.set_value(list(MODELS)).run()  # the demo has a catalogue: every model is offered
    assert not at.exception and not at.error
    text = shown_text(at)
    declared = {s.name: s for cls in MODELS.values() for s in cls.settings}
    raw = [name for name in declared if "_" in name or name in ("alpha", "beta")]
    assert "validate_every" in raw and "negative_sampling" in raw
    assert [name for name in raw if name in text] == [], "a raw setting name is shown on the Train page"
    widgets = {w.key: w for kind in ("number_input", "toggle", "selectbox", "text_input") for w in at.get(kind)}
    for model, cls in MODELS.items():
        for setting in cls.settings:
            if setting.name != "device":  # chosen once, for every model, below the models
                widget = widgets[f"param_{model}_{setting.name}"]
                assert (widget.label, widget.help) == (setting.label, setting.help), (model, setting.name)
    # each widget is the one its declaration asks for, with its range and default
    bpr = MODELS["bpr"]
    factors = at.number_input(key="param_bpr_factors")
    assert factors.value == 64 and factors.label == "Taste dimensions"
    assert (factors.min, factors.max) == (1, 4096)
    rate = at.number_input(key="param_bpr_learning_rate")
    assert rate.value == 0.05 and rate.min == bpr.setting("learning_rate").low
    sampling = at.selectbox(key="param_bpr_negative_sampling")
    assert sampling.value == "uniform" and sampling.options == ["Any item, equally often",
                                                                "Popular items more often (as the implicit library)"]
    assert at.number_input(key="param_bpr_patience").value is None  # optional: empty means never
    assert at.toggle(key="param_bpr_verify_negatives").value is True
    assert at.selectbox(key="param_ease_precision").value == "float32"
    # a changed setting reaches the estimate and the run with its declared type
    at.multiselect(key=f"models_{demo_id}").set_value(["bpr"]).run()
    at.number_input(key="param_bpr_factors").set_value(8).run()
    at.selectbox(key="param_bpr_negative_sampling").set_value("popularity").run()
    at.button(key="start_training").click().run()
    assert not at.exception and not at.error
    run = Store(home).list_runs(dataset_id=demo_id)
    params = Store(home).run(int(run[run["model"] == "bpr"].iloc[0]["id"]))["params"]
    assert params == {"factors": 8, "negative_sampling": "popularity"} and type(params["factors"]) is int


def test_a_run_can_be_submitted_shown_and_cancelled(home, open_app):
    # a long run queued first keeps the worker busy, so the page's run is still waiting when cancelled
    store = Store(home)
    demo_id = store.ensure_demo()
    long_run = jobs.submit(store, demo_id, "ials", {"epochs": 5000, "factors": 4}, protocol="random")
    at = open_app("pages/train.py")
    at.selectbox(key=f"protocol_{demo_id}").set_value("random").run()
    at.multiselect(key=f"models_{demo_id}").set_value(["random"]).run()
    at.button(key="start_training").click().run()
    assert not at.exception and not at.error
    runs = store.list_runs(dataset_id=demo_id)
    mine = runs[runs["model"] == "random"]
    assert len(mine) == 1 and mine.iloc[0]["protocol"] == "random"
    run_id = int(mine.iloc[0]["id"])
    assert store.run(run_id)["status"] == "queued"
    assert at.get("progress"), "an active run shows a progress bar"
    at.button(key=f"cancel_{run_id}").click().run()
    assert not at.exception and not at.error
    after = store.run(run_id)
    assert after["status"] == "cancelled" and after["error"] == "Cancelled before it started."

    # the running one stops within an epoch of the click
    wait_until(lambda: store.run(long_run)["epochs_done"] > 0, at)
    at.button(key=f"cancel_{long_run}").click().run()
    assert not at.exception and not at.error
    wait_until(lambda: store.run(long_run)["status"] != "running", at)
    stopped = store.run(long_run)
    assert stopped["status"] == "cancelled", stopped["error"]
    assert stopped["error"].startswith("Cancelled after epoch") and stopped["epochs_done"] < 5000
    assert not (store.run_dir(long_run) / "model").exists()  # a cancelled run keeps no files


def wait_until(condition, at: AppTest, timeout: float = 90.0) -> None:
    """Rerun the page every half second until ``condition()`` holds (or fail after ``timeout``)."""
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.5)
        at.run()
        assert not at.exception, at.exception


@pytest.mark.slow
def test_a_submitted_run_finishes_and_is_listed(home, open_app):
    at = open_app("pages/train.py")
    demo_id = int(Store(home).list_datasets().iloc[0]["id"])
    at.multiselect(key=f"models_{demo_id}").set_value(["popularity"]).run()
    at.button(key="start_training").click().run()
    deadline = time.time() + 90
    while time.time() < deadline:
        time.sleep(1)
        at.run()
        assert not at.exception
        runs = Store(home).list_runs(dataset_id=demo_id)
        if not runs.empty and runs["status"].isin(["done", "failed"]).all():
            break
    runs = Store(home).list_runs(dataset_id=demo_id)
    assert set(runs["status"]) == {"done"}, runs[["model", "status", "error"]]
    table = at.get("dataframe")[-1].value
    assert "Finished" in set(table["Status"])
