"""Recommendations: one person's history beside what a model recommends them and why; two models side by
side; a made-up persona answered live by every model; every user's list as CSV. Layout only: the data
comes from ``recsys.explore``. Every label speaks the dataset's own words (listeners, artists, plays)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import ui
from recsys import explore, leaderboard
from ui import format as fmt
from ui import words

ui.through_app()  # before anything else: a page run on its own reruns through app.py (ui/navigation.py)

WORDS = ui.nouns()
ui.page_header(
    "Recommendations",
    f"Pick a {WORDS.person}: see what they {WORDS.did}, what a model suggests next and why. Or describe a taste "
    "yourself and ask every model at once.",
    kicker="Step 5",
)
st.caption(words.SERVING_NOTE)


@st.cache_data(show_spinner="Asking every model…", max_entries=32)
def _persona(home: str, run_ids: tuple[int, ...], labels: tuple[str, ...], dataset_id: int, liked: tuple[str, ...], k: int,
             stamp: Any) -> explore.PersonaResult:
    _, catalog = ui.load_dataset(dataset_id)
    models = {label: ui.load_run_model(run_id) for run_id, label in zip(run_ids, labels, strict=True)}
    return explore.persona_recommendations(models, list(liked), catalog, k=k)


def _empty_state() -> None:
    st.info(
        "No trained models on this dataset yet. Train one on the Train page (Popularity and Similar items "
        f"take seconds), then come back to see which {WORDS.items} each {WORDS.person} gets, and why.",
    )
    st.page_link(ui.navigation.path("train.py"), label="Go to Train")


def _picture_column(frame, order: list[str], columns: dict) -> None:
    if (frame["image_url"] != "").any():
        columns["image_url"] = st.column_config.ImageColumn("Picture", width="small")
        order.insert(0, "image_url")


dataset_id = ui.dataset_picker(help=f"The dataset whose {WORDS.people} and trained models you want to look at.")
runs = ui.finished_runs_or_stop(dataset_id, _empty_state)

labels = dict(zip(runs["id"].astype(int), runs["label"], strict=True))
run_ids = list(labels)
first = leaderboard.best_run(runs)

data = None
with ui.guard("loading the dataset") as loaded:
    data, catalog = ui.load_dataset(dataset_id)
if not loaded.ok:
    st.stop()

tab_person, tab_persona, tab_export = st.tabs([f"One {WORDS.person}", "Persona", "Export"])


# -- one person -------------------------------------------------------------------------------------
def _people_with_linked(query: str):
    """The people matching ``query``, with the person a link or reload names (``?person=``) first."""
    people = explore.search_users(data, query, limit=200)
    linked = ui.state.url_value("person", "rec_user")
    if linked is not None and linked not in set(people["user_id"]):
        exact = explore.search_users(data, str(linked), limit=1)
        if len(exact) and exact["user_id"].iloc[0] == str(linked):
            people = pd.concat([exact, people], ignore_index=True)
    return people


def _value_column(frame: pd.DataFrame) -> dict:
    """The history's value column, labelled by kind ("Plays", "Stars") and never clipped."""
    whole = frame["rating"].dropna().eq(frame["rating"].dropna().round()).all()
    return st.column_config.NumberColumn(
        WORDS.value_label, width=64, format="localized" if whole else "%.1f",
        help=f"Their {WORDS.value or 'value'} for this {WORDS.item}.")


WHY_ROW_PX = 68  # over 4rem, so a cell's text wraps: "Because you liked A, B, C" in full on two or three lines
TABLE_HEAD_PX = 38


def _history_table(user_id: str, height: int) -> None:
    history = explore.user_history(data, user_id, catalog)
    order_words = "most recent first" if data.timestamps is not None else (
        f"most {WORDS.value} first" if data.values is not None else "")
    st.caption(", ".join(filter(None, [WORDS.count(len(history), "item"), order_words])) + ".")
    # widths that fit the narrow history column from 1280 px wide up: the title, its value, the date
    order = ["title"] + (["rating"] if data.values is not None else []) + (
        ["when"] if data.timestamps is not None else [])
    columns = {
        "title": st.column_config.TextColumn(WORDS.item.capitalize(), width=150),
        "rating": _value_column(history),
        "when": st.column_config.DatetimeColumn("When", format="D MMM YYYY", width=96),
    }
    _picture_column(history, order, columns)
    st.dataframe(history, column_order=order, column_config=columns, hide_index=True, width="stretch", height=height)


def _recommendations_table(model, user_id: str, k: int, height: int) -> None:
    recs = explore.recommendations_for_user(model, user_id, catalog, k=int(k), everything=data)
    hits = int(recs["picked_later"].sum())
    held_out = recs.attrs.get("held_out", 0)
    if held_out:  # a model that did not train on all of this person's history: say what it found
        st.caption(
            f"{WORDS.items.capitalize()} they {WORDS.did} in training are left out. "
            + (f"{fmt.plural(hits, 'suggestion')} they really went on to pick (held out from training)."
               if hits else "None of these was in their held-out picks.")
        )
    else:
        st.caption(f"Everything they {WORDS.did} is left out.")
    order = ["rank", "title"] + (["picked_later"] if held_out else []) + ["because"] + (
        ["genres"] if (recs["genres"] != "").any() else [])
    columns = {  # widths that fit the column from 1280 px wide up (wider, they stretch); cells wrap
        "rank": st.column_config.NumberColumn("#", width=36),
        "title": st.column_config.TextColumn(WORDS.item.capitalize(), width=140),
        "genres": st.column_config.TextColumn("Genres", width=75),
        "because": st.column_config.TextColumn(
            "Why", width=240,
            help=f"The {WORDS.items} in their history that raised this suggestion's score the most."),
        "picked_later": st.column_config.CheckboxColumn(
            "Picked it", width=64, help=f"They really {WORDS.did} this {WORDS.item}: it was held out from "
            "training to test the model."),
    }
    _picture_column(recs, order, columns)
    st.dataframe(recs, column_order=order, column_config=columns, hide_index=True, width="stretch", height=height,
                 row_height=WHY_ROW_PX)


def _one_person() -> None:
    left, middle, right = st.columns([2, 3, 1])
    query = left.text_input(f"Find a {WORDS.person} by id", key="rec_user_query", placeholder="e.g. 42",
                            help=f"Type part of an id; the most active matching {WORDS.people} come first.")
    people = _people_with_linked(query)
    if people.empty:
        st.warning(f"No {WORDS.person} id contains “{query}”. Try fewer characters.")
        return
    shown = {u: f"{WORDS.person.capitalize()} {u} ({WORDS.count(n, 'event')})"
             for u, n in zip(people["user_id"], people["interactions"], strict=True)}
    user_id = ui.url_selectbox(WORDS.person.capitalize(), people["user_id"].tolist(), key="rec_user", param="person",
                               where=middle, format_func=shown.get)
    k = right.number_input("How many", 5, 50, 10, key="rec_k")
    run_id = ui.url_selectbox("Model", run_ids, key="rec_run", param="run", default=first, format_func=labels.get,
                              help="Which trained model recommends.")

    history_col, recs_col = st.columns([2, 3])
    height = TABLE_HEAD_PX + WHY_ROW_PX * int(k) if int(k) <= 10 else 720  # the whole top 10 without scrolling
    with history_col:
        st.subheader(f"What they {WORDS.did}", anchor=False)
        with ui.guard(f"reading this {WORDS.person}'s history"):
            _history_table(user_id, height)
    with recs_col:
        st.subheader(f"Top {int(k)} from {labels[run_id].split(' · ')[0]}", anchor=False)
        with ui.guard("recommending"):
            _recommendations_table(ui.load_run_model(run_id), user_id, int(k), height)

    st.subheader("Two models side by side", anchor=False)
    others = [r for r in run_ids if r != run_id] or run_ids
    other = st.selectbox("Compare with", others, format_func=labels.get, key="rec_other",
                         help=f"A second model for the same {WORDS.person}; {WORDS.items} in both lists are marked ✓.")
    with ui.guard("comparing the two models"):
        pair = explore.compare_recommendations(
            ui.load_run_model(run_id), ui.load_run_model(other), user_id, catalog, k=int(k),
            names=(labels[run_id], labels[other]),
        )
        st.metric("In both lists", f"{pair.overlap} of {pair.k}",
                  help=f"How many {WORDS.items} both models put in this {WORDS.person}'s top list.")
        st.dataframe(pair.table, hide_index=True, width="stretch", column_config={
            "rank": st.column_config.NumberColumn("#", width=36),
            **{name: st.column_config.TextColumn(name.split(" · ")[0], width="medium") for name in pair.table.columns[1:]},
        })


# -- persona ----------------------------------------------------------------------------------------
def persona_tab() -> None:
    st.caption(
        f"Pick a few {WORDS.items} you love: every trained model answers at once, without retraining "
        f"(it folds your picks in as a new {WORDS.person}). Every {WORDS.item} with at least one {WORDS.event} "
        "can be picked: type part of its name."
    )
    query = ""
    if data.n_items > ui.state.MAX_CHOICES:  # a very large catalogue: narrow the list by a search first
        query = st.text_input(f"Search the {fmt.count(data.n_items)} {WORDS.items}", key="persona_query")
    ids, shown = ui.state.item_choices(int(dataset_id), query)
    picked = st.session_state.get("persona_items") or []
    options = list(dict.fromkeys([*picked, *ids]))
    top = shown.get(ids[0], "").rsplit(" (", 1)[0] if ids else ""
    liked = st.multiselect(
        f"{WORDS.items.capitalize()} you love (type to search)", options, key="persona_items",
        format_func=lambda i: shown.get(i, i), placeholder=f"Start typing a name, e.g. {top}…" if top else "Start typing…",
    )
    persona_k = st.slider("How many suggestions per model", 5, 20, 10, key="persona_k")
    latest = leaderboard.latest_run_per_model(runs)
    if not liked:
        st.info(f"Pick at least one {WORDS.item} to see what each model suggests.")
        return
    with ui.guard("asking the models"):
        result = _persona(
            str(ui.get_store().home),
            tuple(int(r) for r in latest["id"]), tuple(leaderboard.model_title(m) for m in latest["model"]),
            int(dataset_id), tuple(liked), int(persona_k), tuple(latest["finished_at"]),
        )
        for name, problem in result.problems.items():
            st.warning(f"{name}: {problem}")
        if not result.frame.empty:
            table = explore.persona_table(result)
            each = max(110, int(760 / max(1, len(table.columns) - 1)))  # every model fits from 1280 px wide up
            st.dataframe(table, hide_index=True, width="stretch", column_config={
                "rank": st.column_config.NumberColumn("#", width=36),
                **{name: st.column_config.TextColumn(name, width=each) for name in table.columns[1:]},
            })


# -- export -----------------------------------------------------------------------------------------
def _stored_lists(run_id: int):
    """The run's stored top-20 lists (made by the worker with the same model), None when it has none."""
    try:
        return ui.run_recommendations(run_id)
    except Exception:  # noqa: BLE001 - a run saved before lists were stored: the model ranks again
        return None


def export_tab() -> None:
    st.caption(f"Every {WORDS.person}'s top list from one model, as a spreadsheet-friendly CSV file.")
    left, right = st.columns([3, 1])
    export_run = left.selectbox("Model", run_ids, index=run_ids.index(first), format_func=labels.get,
                                key="export_run")
    export_k = right.number_input(f"{WORDS.items.capitalize()} per {WORDS.person}", 1, 100, 10, key="export_k")
    if st.button("Prepare the CSV", key="export_prepare", type="primary"):
        with ui.guard("preparing the CSV"), st.spinner("Recommending for everyone…"):
            st.session_state["export_csv"] = (
                int(export_run), int(export_k),
                explore.recommendations_csv(ui.load_run_model(export_run), catalog, k=int(export_k),
                                            run_lists=_stored_lists(int(export_run))),
            )
    ready = st.session_state.get("export_csv")
    if ready and ready[:2] == (int(export_run), int(export_k)):
        st.download_button(
            f"Download {WORDS.count(data.n_users, 'person')} × {int(export_k)} recommendations",
            ready[2], file_name=f"recommendations-run{int(export_run)}-top{int(export_k)}.csv",
            mime="text/csv", key="export_download",
        )


with tab_person:
    _one_person()
with tab_persona:
    persona_tab()
with tab_export:
    export_tab()
