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

ui.through_app()  # before anything else: a page run on its own reruns through app.py (ui/navigation.py)

ui.page_header(
    "Explore",
    f"Look inside a trained model: which {ui.nouns().items} it sees as alike, which {ui.nouns().people} it sees "
    "as alike, and how it arranges the whole catalogue.",
    kicker="Step 4",
)
st.caption(words.SERVING_NOTE)


GREYS = {explore.OTHER_GENRE: "#B8BCC4", explore.UNKNOWN_GENRE: "#DADDE2"}
WORDS = ui.nouns()


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
    st.page_link(ui.navigation.path("train.py"), label="Go to Train")


# -- more like this -----------------------------------------------------------------------------------
def more_like_this_tab() -> None:
    """Pick any item of the catalogue (type-ahead over every title) and see the model's nearest ones."""
    st.caption(f"Pick any {WORDS.item} and see what the model considers closest to it. Similarity is "
               f"{model.similarity_basis}.")
    if not similar_ok:
        st.info(no_similarity)
        return
    query = ""
    if data.n_items > ui.state.MAX_CHOICES:  # a very large catalogue: narrow the list by a search first
        query = st.text_input(f"Search the {fmt.count(data.n_items)} {WORDS.items}", key="like_query")
    ids, shown = ui.state.item_choices(int(dataset_id), query)
    if not ids:
        st.warning(f"No {WORDS.item} name contains “{query}”. Try a shorter word.")
        return
    left, right = st.columns([3, 1])
    item_id = ui.url_selectbox(f"{WORDS.item.capitalize()} (type to search)", ids, key="like_item", param="item",
                               where=left, format_func=lambda i: shown.get(i, i))
    how_many = right.slider("How many", 5, 30, 10, key="like_k")
    with ui.guard(f"finding similar {WORDS.items}"):
        number = int(data.item_index([item_id])[0])
        like = explore.more_like_this(model, number, catalog, k=how_many, everything=data)  # counts on all data
        columns = {  # widths that fit from 1280 px wide up
            "rank": st.column_config.NumberColumn("#", width=36),
            "title": st.column_config.TextColumn(WORDS.item.capitalize(), width=240),
            "genres": st.column_config.TextColumn("Genres", width=170),
            "similarity": st.column_config.ProgressColumn(
                "Similarity", format="%.3f", min_value=0.0, max_value=1.0, width=150,
                help=f"How alike the two {WORDS.items} are: {model.similarity_basis}.",
            ),
            "interactions": st.column_config.NumberColumn(
                WORDS.events.capitalize(), format="localized", width=90,
                help=f"How many {WORDS.events} it has in the whole dataset."),
        }
        order = ["rank", "title"] + (["genres"] if (like["genres"] != "").any() else []) + ["similarity", "interactions"]
        if (like["image_url"] != "").any():
            columns["image_url"] = st.column_config.ImageColumn("Picture", width="small")
            order.insert(1, "image_url")
        st.dataframe(like, column_order=order, column_config=columns, hide_index=True, width="stretch")


# -- the map of the catalogue ------------------------------------------------------------------------
AXES = {
    "PCA": ("Across: the strongest contrast in taste the model learnt (the first principal component of its "
            "{items}' vectors); up: the second strongest. Only distances matter: the axes have no units."),
    "t-SNE": ("t-SNE places {items} the model finds alike next to each other and pulls groups apart; the axes "
              "themselves mean nothing, only who is near whom."),
}
BAND_COLOURS = [charts.ACCENT, charts.PALETTE[3], "#B8BCC4"]  # top 1%, the next 9%, the long tail


def _map_figure(points, by: str) -> go.Figure:
    """The map as one trace per colour group (genre or popularity band), with a legend."""
    fig = go.Figure()
    if by == "band":
        groups = [(band, BAND_COLOURS[i % len(BAND_COLOURS)]) for i, band in enumerate(explore.BANDS)]
    else:
        colours = [c for c in charts.PALETTE if c != charts.MUTED]
        groups = [(genre, GREYS.get(genre, colours[n % len(colours)])) for n, genre in enumerate(explore.genre_order(points))]
    for name, colour in groups:
        group = points[points[by] == name]
        if group.empty:
            continue
        fig.add_trace(go.Scattergl(
            x=group["x"], y=group["y"], mode="markers", name=f"{name} ({fmt.count(len(group))})",
            marker=dict(size=7, opacity=0.85, color=colour),
            customdata=group[["title", "interactions"]].to_numpy(),
            hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]:,} " + WORDS.events + "<extra>" + str(name) + "</extra>",
        ))
    return fig


def map_tab() -> None:
    left, right = st.columns(2)
    method = left.radio(
        "Layout", ["pca", "tsne"], horizontal=True, key="map_method",
        format_func={"pca": "Quick (PCA)", "tsne": "Clustered (t-SNE, slower)"}.get,
        help="PCA keeps the broad directions of taste; t-SNE pulls close neighbours into visible clusters.",
    )
    max_items = right.slider(f"Most popular {WORDS.items} shown", 100, 2000, 500, step=100, key="map_n")
    with ui.guard("drawing the map"):
        points = _item_map(str(ui.get_store().home), int(run_id), int(dataset_id), _finished_at(run_id), method,
                           int(max_items))
        by = "genre" if (points["genre"] != explore.UNKNOWN_GENRE).any() else "band"
        legend = "Main genre" if by == "genre" else "How popular"
        title = f"The {fmt.count(len(points))} most popular {WORDS.items} as {leaderboard.model_title(model.name)} sees them"
        projection = points.attrs.get("method", "PCA")
        charts.show(charts.style(_map_figure(points, by), title, x=f"{projection} direction 1",
                                 y=f"{projection} direction 2", height=560, legend=legend), key="item_map")
        colours = ("Colours are each one's main genre." if by == "genre" else
                   f"This catalogue has no genres, so colours say how popular each {WORDS.item} is, by "
                   f"{WORDS.events}: the biggest hits (top 1%), the other popular {WORDS.items} (top 10%) or the "
                   "long tail.")
        st.caption(f"Every dot is one {WORDS.item}; {WORDS.items} the model sees as alike sit close together. "
                   f"{colours} {AXES.get(projection, '').format(items=WORDS.items)} Drawn from "
                   f"{points.attrs.get('source', 'the model')}. Hover a dot for its name.")


# -- page -------------------------------------------------------------------------------------------
dataset_id = ui.dataset_picker(help="The dataset whose trained models you want to look into.")
runs = ui.finished_runs_or_stop(dataset_id, _empty_state)

labels = dict(zip(runs["id"].astype(int), runs["label"], strict=True))
run_ids = list(labels)
run_id = ui.url_selectbox(
    "Model", run_ids, key="explore_run", param="run", default=leaderboard.best_run(runs), format_func=labels.get,
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
    f"{leaderboard.model_title(model.name)} has no notion of similar {WORDS.items}: it does not learn what "
    f"{WORDS.items} have in common. Pick a personalised model such as Similar items, EASE or Implicit ALS."
)

tab_items, tab_like, tab_people, tab_map = st.tabs(
    [f"{WORDS.item.capitalize()} similarity", "More like this", f"{WORDS.people.capitalize()} alike",
     "Map of the catalogue"]
)

with tab_items:
    st.caption(f"How alike the model finds each pair of {WORDS.items}: {model.similarity_basis}. A "
               f"{WORDS.item} with itself is 1.")
    if not similar_ok:
        st.info(no_similarity)
    else:
        choice = st.radio(f"Which {WORDS.items}", ["Most popular", f"Pick {WORDS.items}"], horizontal=True,
                          key="heat_mode")
        if choice == "Most popular":
            top_n = st.slider(f"How many of the most popular {WORDS.items}", 5, 40, 15, key="heat_n")
            items = explore.popular_items(data, top_n)
            title = f"How alike {leaderboard.model_title(model.name)} finds the {top_n} most popular {WORDS.items}"
        else:
            ids, shown = ui.state.item_choices(int(dataset_id))
            picked = st.multiselect(
                f"{WORDS.items.capitalize()} (type to search)", ids, default=ids[:6],
                format_func=lambda i: shown.get(i, i), key="heat_items",
            )
            items = data.item_index(picked) if picked else []
            title = f"How alike {leaderboard.model_title(model.name)} finds your chosen {WORDS.items}"
        if len(items) == 0:
            st.info(f"Pick at least one {WORDS.item}.")
        else:
            with ui.guard("computing item similarities"):
                heat = explore.item_similarity_heatmap(model, items, catalog)
                charts.show(_heatmap_figure(heat, title, WORDS.item.capitalize()), key="item_heatmap")

with tab_like:
    more_like_this_tab()

with tab_people:
    st.caption(
        f"How alike the model finds a sample of {WORDS.people}: 1 means it would recommend them the same things, "
        "0 unrelated, below 0 opposite tastes."
    )
    left, right = st.columns(2)
    sample_size = left.slider(f"How many {WORDS.people}", 5, 40, 15, key="people_n")
    seed = right.number_input(f"Sample number (change it to draw other {WORDS.people})", 0, 10_000, 0,
                              key="people_seed")
    with ui.guard("comparing people"):
        users = explore.sample_users(model, sample_size, seed=int(seed))
        heat = explore.user_similarity_heatmap(model, users)
        named = [str(i).replace("User ", f"{WORDS.person.capitalize()} ", 1) for i in heat.index]
        heat.index, heat.columns = named, named
        charts.show(
            _heatmap_figure(heat, f"How alike {leaderboard.model_title(model.name)} finds {WORDS.count(len(heat), 'person')}",
                            WORDS.person.capitalize()),
            key="user_heatmap",
        )

with tab_map:
    map_tab()

