"""Explore: what a trained model has learnt about items and people (similarity maps, more like this,
a 2-D map of the catalogue). Layout only: every figure comes from ``recsys.explore``."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

import ui
from recsys import explore, leaderboard
from ui import charts, words
from ui import format as fmt

ui.page_header(
    "Explore",
    "Look inside a trained model: which items it sees as alike, which people it sees as alike, and how "
    "it arranges the whole catalogue.",
    kicker="Step 4",
)
st.caption(words.SERVING_NOTE)


GREYS = {explore.OTHER_GENRE: "#B8BCC4", explore.UNKNOWN_GENRE: "#DADDE2"}


# -- cached work: keyed by the data folder, run id and finish time (a finished run never changes) -----
def _finished_at(run_id: int) -> Any:
    return ui.get_store().run(int(run_id)).get("finished_at")


@st.cache_data(show_spinner="Drawing the map…", max_entries=16)
def _item_map(home: str, run_id: int, dataset_id: int, finished_at: Any, method: str, max_items: int):
    model = ui.load_run_model(run_id)
    _, catalog = ui.load_dataset(dataset_id)
    return explore.embedding_map(model, catalog, method=method, max_items=max_items)


def _scale(colours: list[str]) -> list[list]:
    return [[i / (len(colours) - 1), c] for i, c in enumerate(colours)]


def _heatmap_figure(frame, title: str, axis: str) -> go.Figure:
    values = frame.to_numpy()
    signed = bool((values < 0).any())
    fig = go.Figure(
        go.Heatmap(
            z=values, x=list(frame.columns), y=list(frame.index), zmin=-1 if signed else 0, zmax=1,
            colorscale=_scale(charts.DIVERGING if signed else charts.SEQUENTIAL),
            colorbar=dict(title=dict(text="Similarity")),
            hovertemplate="%{y}<br>%{x}<br>Similarity %{z:.3f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-45)
    height = max(460, 22 * len(frame) + 220)
    return charts.style(fig, title, x=axis, y=axis, height=height)


def _empty_state() -> None:
    st.info(
        "No trained models on this dataset yet. Train one (Popularity and Similar items take seconds), "
        "then come back to look inside it.",
    )
    st.page_link("pages/train.py", label="Go to Train")


# -- page -------------------------------------------------------------------------------------------
dataset_id = ui.dataset_picker(help="The dataset whose trained models you want to look into.")
runs = ui.finished_runs_or_stop(dataset_id, _empty_state)

labels = dict(zip(runs["id"].astype(int), runs["label"], strict=True))
run_ids = list(labels)
run_id = st.selectbox(
    "Model", run_ids, index=run_ids.index(leaderboard.best_run(runs)), format_func=labels.get, key="explore_run",
    help="Any finished training run on this dataset. Popularity and Random have no notion of similar items.",
)

model = data = catalog = None
with ui.guard("loading the trained model") as loaded:
    model = ui.load_run_model(run_id)
    data, catalog = ui.load_dataset(dataset_id)
if not loaded.ok:
    st.stop()

similar_ok = explore.supports_item_similarity(model)
no_similarity = (
    f"{leaderboard.model_title(model.name)} has no notion of similar items: it does not learn what items have "
    "in common. Pick a personalised model such as Similar items, EASE or Implicit ALS."
)

tab_items, tab_like, tab_people, tab_map = st.tabs(
    ["Item similarity", "More like this", "People alike", "Map of the catalogue"]
)

with tab_items:
    st.caption(f"How alike the model finds each pair of items: {model.similarity_basis}. An item with "
               "itself is 1.")
    if not similar_ok:
        st.info(no_similarity)
    else:
        choice = st.radio("Which items", ["Most popular", "Pick items"], horizontal=True, key="heat_mode")
        if choice == "Most popular":
            top_n = st.slider("How many of the most popular items", 5, 40, 15, key="heat_n")
            items = explore.popular_items(data, top_n)
            title = f"How alike {leaderboard.model_title(model.name)} finds the {top_n} most popular items"
        else:
            options = explore.search_items(data, catalog, "", limit=500)
            picked = st.multiselect(
                "Items (type to search)", options["item"].tolist(),
                default=options["item"].tolist()[:6],
                format_func=dict(zip(options["item"], options["title"], strict=True)).get, key="heat_items",
            )
            items = picked
            title = f"How alike {leaderboard.model_title(model.name)} finds your chosen items"
        if len(items) == 0:
            st.info("Pick at least one item.")
        else:
            with ui.guard("computing item similarities"):
                heat = explore.item_similarity_heatmap(model, items, catalog)
                charts.show(_heatmap_figure(heat, title, "Item"), key="item_heatmap")

with tab_like:
    st.caption(f"Search an item and see what the model considers closest to it. Similarity is "
               f"{model.similarity_basis}.")
    if not similar_ok:
        st.info(no_similarity)
    else:
        query = st.text_input("Search a title", key="like_query", placeholder="e.g. Toy Story")
        matches = explore.search_items(data, catalog, query, limit=50)
        if matches.empty:
            st.warning(f"No title contains “{query}”. Try a shorter word.")
        else:
            item = st.selectbox(
                "Item", matches["item"].tolist(), key="like_item",
                format_func=dict(zip(matches["item"], matches["label"], strict=True)).get,
            )
            how_many = st.slider("How many", 5, 30, 10, key="like_k")
            with ui.guard("finding similar items"):
                like = explore.more_like_this(model, int(item), catalog, k=how_many, everything=data)
                columns = {
                    "rank": st.column_config.NumberColumn("#", width="small"),
                    "title": st.column_config.TextColumn("Title", width="large"),
                    "genres": st.column_config.TextColumn("Genres"),
                    "similarity": st.column_config.ProgressColumn(
                        "Similarity", format="%.3f", min_value=0.0, max_value=1.0,
                        help=f"How alike the two items are: {model.similarity_basis}.",
                    ),
                }
                columns["interactions"] = st.column_config.NumberColumn(
                    "Interactions", format="localized", help="How many interactions it has in the whole dataset.")
                order = ["rank", "title", "genres", "similarity", "interactions"]
                if (like["image_url"] != "").any():
                    columns["image_url"] = st.column_config.ImageColumn("Picture")
                    order.insert(1, "image_url")
                st.dataframe(like, column_order=order, column_config=columns, hide_index=True, width="stretch")

with tab_people:
    st.caption(
        "How alike the model finds a sample of people: 1 means it would recommend them the same things, "
        "0 unrelated, below 0 opposite tastes."
    )
    left, right = st.columns(2)
    sample_size = left.slider("How many people", 5, 40, 15, key="people_n")
    seed = right.number_input("Sample number (change it to draw other people)", 0, 10_000, 0, key="people_seed")
    with ui.guard("comparing people"):
        users = explore.sample_users(model, sample_size, seed=int(seed))
        heat = explore.user_similarity_heatmap(model, users)
        charts.show(
            _heatmap_figure(heat, f"How alike {leaderboard.model_title(model.name)} finds {fmt.plural(len(heat), 'person', 'people')}", "Person"),
            key="user_heatmap",
        )

with tab_map:
    st.caption(
        "Every dot is an item; items the model sees as alike sit close together. Colours are genres; hover "
        "for the title."
    )
    left, right = st.columns(2)
    method = left.radio(
        "Layout", ["pca", "tsne"], horizontal=True, key="map_method",
        format_func={"pca": "Quick (PCA)", "tsne": "Clustered (t-SNE, slower)"}.get,
        help="PCA keeps the broad directions of taste; t-SNE pulls close neighbours into visible clusters.",
    )
    max_items = right.slider("Most popular items shown", 100, 2000, 500, step=100, key="map_n")
    with ui.guard("drawing the map"):
        points = _item_map(str(ui.get_store().home), int(run_id), int(dataset_id), _finished_at(run_id), method, int(max_items))
        fig = go.Figure()
        colours = [c for c in charts.PALETTE if c != charts.MUTED]
        for number, genre in enumerate(explore.genre_order(points)):
            group = points[points["genre"] == genre]
            colour = GREYS.get(genre, colours[number % len(colours)])
            fig.add_trace(
                go.Scattergl(
                    x=group["x"], y=group["y"], mode="markers", name=str(genre),
                    marker=dict(size=7, opacity=0.8, color=colour),
                    customdata=group[["title", "interactions"]].to_numpy(),
                    hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]:,} interactions<extra>" + str(genre) + "</extra>",
                )
            )
        title = f"The {fmt.count(len(points))} most popular items as {leaderboard.model_title(model.name)} sees them"
        charts.show(
            charts.style(fig, title, x=f"{points.attrs.get('method', '')} direction 1",
                         y=f"{points.attrs.get('method', '')} direction 2", height=560, legend="Main genre"),
            key="item_map",
        )
        st.caption(f"Drawn from {points.attrs.get('source', 'the model')}.")
