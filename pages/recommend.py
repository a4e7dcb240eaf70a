"""Recommendations: one person's history beside what a model recommends them and why; two models side by
side; a made-up persona answered live by every model; every user's list as CSV. Layout only: the data
comes from ``recsys.explore``."""

from __future__ import annotations

from typing import Any

import streamlit as st

import ui
from recsys import explore, leaderboard
from ui import format as fmt
from ui import words

ui.page_header(
    "Recommendations",
    "Pick a person: see what they watched, what a model suggests next and why. Or describe a taste "
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
        "take seconds), then come back to see who gets what, and why.",
    )
    st.page_link("pages/train.py", label="Go to Train")


def _picture_column(frame, order: list[str], columns: dict) -> None:
    if (frame["image_url"] != "").any():
        columns["image_url"] = st.column_config.ImageColumn("Picture", width="small")
        order.insert(0, "image_url")


dataset_id = ui.dataset_picker(help="The dataset whose people and trained models you want to look at.")
runs = ui.finished_runs_or_stop(dataset_id, _empty_state)

labels = dict(zip(runs["id"].astype(int), runs["label"], strict=True))
run_ids = list(labels)
first = leaderboard.best_run(runs)

data = None
with ui.guard("loading the dataset") as loaded:
    data, catalog = ui.load_dataset(dataset_id)
if not loaded.ok:
    st.stop()

tab_person, tab_persona, tab_export = st.tabs(["One person", "Persona", "Export"])


# -- one person -------------------------------------------------------------------------------------
def _one_person() -> None:
    left, middle, right = st.columns([2, 3, 1])
    query = left.text_input("Find a person by id", key="rec_user_query", placeholder="e.g. 42",
                            help="Type part of a user id; the most active matching people come first.")
    people = explore.search_users(data, query, limit=200)
    if people.empty:
        st.warning(f"No user id contains “{query}”. Try fewer characters.")
        return
    user_id = middle.selectbox("Person", people["user_id"].tolist(), key="rec_user",
                               format_func=dict(zip(people["user_id"], people["label"], strict=True)).get)
    k = right.number_input("How many", 5, 50, 10, key="rec_k")
    run_id = st.selectbox("Model", run_ids, index=run_ids.index(first), format_func=labels.get, key="rec_run",
                          help="Which trained model recommends.")

    history_col, recs_col = st.columns([2, 3])
    with history_col:
        st.subheader("What they picked", anchor=False)
        with ui.guard("reading this person's history"):
            history = explore.user_history(data, user_id, catalog)
            st.caption(f"{fmt.plural(len(history), 'item')}, most recent first.")
            order = ["title", "genres", "rating", "when"]
            columns = {
                "title": st.column_config.TextColumn("Title", width="medium"),
                "genres": st.column_config.TextColumn("Genres"),
                "rating": st.column_config.NumberColumn("Rating", format="%.1f", help="Their rating or weight."),
                "when": st.column_config.DatetimeColumn("When", format="D MMM YYYY"),
            }
            _picture_column(history, order, columns)
            st.dataframe(history, column_order=order, column_config=columns, hide_index=True, width="stretch",
                         height=420)
    with recs_col:
        st.subheader(f"Top {int(k)} from {labels[run_id].split(' · ')[0]}", anchor=False)
        with ui.guard("recommending"):
            model = ui.load_run_model(run_id)
            recs = explore.recommendations_for_user(model, user_id, catalog, k=int(k), everything=data)
            hits = int(recs["picked_later"].sum())
            held_out = recs.attrs.get("held_out", 0)
            if held_out:  # a model that did not train on all of this person's history: say what it found
                st.caption(
                    "Items they already picked in training are left out. "
                    + (f"{fmt.plural(hits, 'suggestion')} they really went on to pick (held out from training)."
                       if hits else "None of these was in their held-out picks.")
                )
            else:
                st.caption("Everything they already picked is left out.")
            order = ["rank", "title", "picked_later", "because", "genres"] if held_out else [
                "rank", "title", "because", "genres"]
            columns = {
                "rank": st.column_config.NumberColumn("#", width="small"),
                "title": st.column_config.TextColumn("Title", width="medium"),
                "genres": st.column_config.TextColumn("Genres"),
                "because": st.column_config.TextColumn(
                    "Why", width="large",
                    help="The items in their history that raised this suggestion's score the most."),
                "picked_later": st.column_config.CheckboxColumn(
                    "Picked it", width="small", help="They really picked this item: it was held out from training to test "
                    "the model."),
            }
            _picture_column(recs, order, columns)
            st.dataframe(recs, column_order=order, column_config=columns, hide_index=True, width="stretch",
                         height=420)

    st.subheader("Two models side by side", anchor=False)
    others = [r for r in run_ids if r != run_id] or run_ids
    other = st.selectbox("Compare with", others, format_func=labels.get, key="rec_other",
                         help="A second model for the same person; items in both lists are marked ✓.")
    with ui.guard("comparing the two models"):
        pair = explore.compare_recommendations(
            ui.load_run_model(run_id), ui.load_run_model(other), user_id, catalog, k=int(k),
            names=(labels[run_id], labels[other]),
        )
        st.metric("In both lists", f"{pair.overlap} of {pair.k}",
                  help="How many items both models put in this person's top list.")
        st.dataframe(pair.table, hide_index=True, width="stretch",
                     column_config={"rank": st.column_config.NumberColumn("#", width="small")})


with tab_person:
    _one_person()

# -- persona ----------------------------------------------------------------------------------------
with tab_persona:
    st.caption(
        "Pick a few items you love: every trained model answers at once, without retraining "
        "(it folds your picks in as a new person)."
    )
    choices = explore.search_items(data, catalog, "", limit=2000)
    liked = st.multiselect(
        "Items you love (type to search)", choices["item_id"].tolist(), key="persona_items",
        format_func=dict(zip(choices["item_id"], choices["title"], strict=True)).get,
        placeholder="Start typing a title…",
    )
    persona_k = st.slider("How many suggestions per model", 5, 20, 10, key="persona_k")
    latest = leaderboard.latest_run_per_model(runs)
    if not liked:
        st.info("Pick at least one item to see what each model suggests.")
    else:
        with ui.guard("asking the models"):
            result = _persona(
                str(ui.get_store().home),
                tuple(int(r) for r in latest["id"]), tuple(leaderboard.model_title(m) for m in latest["model"]),
                int(dataset_id), tuple(liked), int(persona_k), tuple(latest["finished_at"]),
            )
            for name, problem in result.problems.items():
                st.warning(f"{name}: {problem}")
            if not result.frame.empty:
                st.dataframe(explore.persona_table(result), hide_index=True, width="stretch",
                             column_config={"rank": st.column_config.NumberColumn("#", width="small")})

# -- export -----------------------------------------------------------------------------------------
with tab_export:
    st.caption("Every person's top list from one model, as a spreadsheet-friendly CSV file.")
    left, right = st.columns([3, 1])
    export_run = left.selectbox("Model", run_ids, index=run_ids.index(first), format_func=labels.get,
                                key="export_run")
    export_k = right.number_input("Items per person", 1, 100, 10, key="export_k")
    if st.button("Prepare the CSV", key="export_prepare", type="primary"):
        with ui.guard("preparing the CSV"), st.spinner("Recommending for everyone…"):
            st.session_state["export_csv"] = (
                int(export_run), int(export_k),
                explore.recommendations_csv(ui.load_run_model(export_run), catalog, k=int(export_k)),
            )
    ready = st.session_state.get("export_csv")
    if ready and ready[:2] == (int(export_run), int(export_k)):
        st.download_button(
            f"Download {fmt.plural(data.n_users, 'person', 'people')} × {int(export_k)} recommendations",
            ready[2], file_name=f"recommendations-run{int(export_run)}-top{int(export_k)}.csv",
            mime="text/csv", key="export_download",
        )
