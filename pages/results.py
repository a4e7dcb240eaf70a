"""Results: which trained model recommends best on the same test, by how much, and at what cost.
Layout only: every table and chart's data comes from ``recsys.leaderboard``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from recsys import leaderboard, popularity_bands
from ui import charts, sharing, words
from ui import format as fmt

ui.through_app()  # before anything else: a page run on its own reruns through app.py (ui/navigation.py)

WORDS = ui.nouns()

ui.page_header(
    "Results",
    f"Every finished model on the same test, next to Popularity (the most {WORDS.did} {WORDS.items} for "
    "everyone). A badge says when a difference is real rather than luck.",
    kicker="Step 3",
)


# -- cached work: keyed by the data folder, run ids and finish times (a finished run never changes) ----
@st.cache_data(show_spinner="Comparing the models…", max_entries=32)
def _board(home: str, run_ids: tuple[int, ...], stamps: tuple[Any, ...], selected: int | None, dataset_id: int,
           protocol: str, seed: int, tested: tuple[str, ...] | None):
    """The leaderboard of these runs; paired tests only for ``tested`` metrics (None: all, for the CSV)."""
    runs = leaderboard.leaderboard_runs(ui.get_store().list_runs(dataset_id), protocol, seed)
    evaluations = {int(r): ui.load_evaluation(int(r)) for r in run_ids}
    return leaderboard.leaderboard(runs[runs["id"].isin(run_ids)], evaluations, selected=selected,
                                   tested=None if tested is None else list(tested))


@st.cache_data(show_spinner="Breaking results down by segment…", max_entries=16)
def _segments(home: str, run_ids: tuple[int, ...], labels: tuple[str, ...], stamps: tuple[Any, ...], dataset_id: int,
              protocol: str, seed: int):
    data, _ = ui.load_dataset(dataset_id)
    evaluations = {label: ui.load_evaluation(int(r)) for r, label in zip(run_ids, labels, strict=True)}
    # only runs stored before their top-k lists were kept need their model (to rank the test users again)
    models = {label: (lambda r=int(r): ui.load_run_model(r)) for r, label in zip(run_ids, labels, strict=True)}
    return leaderboard.segment_breakdown(data, protocol, seed, evaluations, models)


def _empty_state() -> None:
    st.info(
        "No finished models on this dataset yet. Train a couple on the Train page (Popularity and Similar "
        "items take seconds); their scores land here as soon as they finish.",
    )
    st.page_link(ui.navigation.path("train.py"), label="Go to Train")


def _bar_with_errors(rows, title: str, axis: str) -> go.Figure:
    colours = [charts.MUTED if b else charts.ACCENT for b in rows["is_baseline"]]
    fig = go.Figure(
        go.Bar(
            x=rows["label"], y=rows["value"], marker_color=colours,
            error_y=dict(type="data", array=rows["err_plus"], arrayminus=rows["err_minus"], color=charts.INK,
                         thickness=1.2, width=5),
            customdata=rows[["ci_low", "ci_high", "vs_baseline_badge"]].fillna("").to_numpy(),
            hovertemplate="<b>%{x}</b><br>%{y:.3f} (95% range %{customdata[0]:.3f} – %{customdata[1]:.3f})"
                          "<br>vs Popularity: %{customdata[2]}<extra></extra>",
        )
    )
    return charts.style(fig, title, x="Model", y=axis, height=380)


@st.fragment(run_every=3)
def _watch_training(dataset_id: int, finished: int) -> None:
    """While models train, check every few seconds; redraw the page when one finishes."""
    all_runs = ui.get_store().list_runs(dataset_id)
    if len(leaderboard.finished_runs(all_runs)) != finished:
        st.rerun(scope="app")
    waiting = leaderboard.pending_runs(all_runs)
    if len(waiting):
        st.caption(f"{fmt.plural(len(waiting), 'model')} still training or waiting: "
                   "they join the leaderboard as soon as they finish.")


LEADERBOARD_METRICS = ("ndcg", "hit_rate", "recall", "coverage", "novelty", "diversity")  # what fits 1280 px


def leaderboard_columns(table, config: dict, k: int) -> tuple[list[str], list[str]]:
    """The leaderboard's visible columns (the model, six measures, the badge and the time: they fit a
    1280 px wide window without a header cut off) with their configuration added to ``config``, and the
    titles of the measures left for the detail view and the CSV."""
    for name, width in (("Model", 170), ("vs Popularity", 100), ("Training time (s)", 70)):
        config.setdefault(name, {})["width"] = width
    shown, rest = ["Model"], []
    for metric in leaderboard.METRICS:
        short = leaderboard.metric_title(metric, k, short=True)
        if short not in table.columns:
            continue
        config[short] = st.column_config.NumberColumn(short, format="%.3f", width=84, help=leaderboard.metric_help(metric, k))
        (shown if metric in LEADERBOARD_METRICS else rest).append(short)
    shown += [c for c in ("vs Popularity", "Training time (s)") if c in table.columns]
    return shown, rest


def tuned_runs_section(runs) -> None:
    """The settings each tuned run on the board chose, in plain words, with their validation scores."""
    tuned = leaderboard.tuned_settings(runs)
    if tuned.empty:
        return
    with st.expander(f"Settings chosen by tuning ({fmt.plural(len(tuned), 'tuned model')})", expanded=True):
        for row in tuned.to_dict("records"):
            gain = ""
            if row["validation"] is not None and row["defaults"] is not None:
                gain = (f" (validation NDCG@10 {fmt.metric(row['validation'])}; the defaults scored "
                        f"{fmt.metric(row['defaults'])})")
            st.markdown(f"**{row['label'].split(' · ')[0]}**: {row['settings'] or 'the defaults'}{gain}, "
                        f"from {fmt.plural(int(row['trials'] or 0), 'trial')} in {fmt.duration((row['minutes'] or 0) * 60)}.")
        st.caption("Tuning tried settings on a validation part of the training data, never the test data; the "
                   "scores in the table above are on the test data, measured once.")


# -- page -------------------------------------------------------------------------------------------
dataset_id = ui.dataset_picker(help="The dataset whose trained models you want to compare.")
runs = None
if dataset_id is not None:
    with ui.guard("listing the finished runs"):
        all_runs = ui.get_store().list_runs(dataset_id)
        runs = leaderboard.finished_runs(all_runs)
        if len(leaderboard.pending_runs(all_runs)):
            _watch_training(int(dataset_id), len(runs))
if runs is None or runs.empty:
    if dataset_id is not None:
        _empty_state()
    st.stop()

splits = leaderboard.split_choices(runs)
split_keys = list(zip(splits["protocol"], splits["seed"].astype(int), strict=True))
counts = dict(zip(split_keys, splits["runs"], strict=True))
left, right = st.columns(2)
protocol, seed = left.selectbox(
    "Tested on", split_keys, key="results_split",
    format_func=lambda key: f"{words.protocol_label(key[0])} · seed {key[1]} ({fmt.plural(counts[key], 'model')})",
    help="Only models tested on exactly the same held-out data can be compared fairly.",
)
same = leaderboard.leaderboard_runs(runs, protocol, seed)
labels = dict(zip(same["id"].astype(int), same["label"], strict=True))
ids = list(labels)
best_id = leaderboard.best_run(same)
selected = ui.url_selectbox(
    "Compare everything with", ids, key="results_selected", param="run", default=best_id, where=right,
    format_func=labels.get,
    help="The last column of the details table says whether each model is significantly better than this one. "
         "It starts on the best model (highest ranking quality, NDCG).",
)
home = str(ui.get_store().home)
stamps = tuple(same["finished_at"])


def board_for(selected_run: int | None, tested: tuple[str, ...] | None):
    return _board(home, tuple(ids), stamps, selected_run, int(dataset_id), str(protocol), int(seed), tested)


board = None
with ui.guard("comparing the models"):
    board = board_for(None, (leaderboard.MAIN_METRIC,))
if board is None:
    st.stop()
if board.empty:
    st.info("These runs have no stored scores yet. Train them again on the Train page.")
    st.stop()

k = int(board["k"].iloc[0])
if leaderboard.baseline_run_id(same) is None:
    st.warning("There is no Popularity run on this test yet, so nothing to compare against. It is trained "
               "automatically with the next model you train on this split.")

# -- headline: the best model, and its own figures ---------------------------------------------------
table = leaderboard.leaderboard_table(board)
best_name = labels[best_id].split(" · ")[0]
cols = st.columns(4)
cols[0].metric("Best model", best_name, help=f"Highest ranking quality ({leaderboard.metric_title('ndcg', k, short=True)}) "
               "on this test; an exact tie goes to the higher hit rate.")
for column, metric, shown in ((cols[1], "ndcg", fmt.metric), (cols[2], "hit_rate", fmt.percent)):
    mine = board[(board["metric"] == metric) & (board["run_id"] == best_id)]
    if mine.empty:
        continue
    row = mine.iloc[0]
    unit = " points" if metric == "hit_rate" else ""
    scale = 100 if metric == "hit_rate" else 1
    delta = None
    if not row["is_baseline"] and pd.notna(row["vs_baseline"]):
        delta = f"{row['vs_baseline'] * scale:+.{1 if unit else 3}f}{unit} vs Popularity"
    column.metric(f"{best_name}: {leaderboard.metric_title(metric, k, short=True)}", shown(row["value"]), delta=delta,
                  help=leaderboard.metric_help(metric, k))
cols[3].metric("Models compared", fmt.count(len(table)), help="Finished runs tested on this same held-out data.")
st.caption(words.in_words(" ".join(filter(None, [words.SCORED_NOTE, ui.load_evaluation(best_id).relevance])), WORDS))

# -- leaderboard table ------------------------------------------------------------------------------
st.subheader("Leaderboard", anchor=False)
config: dict[str, Any] = {
    "Model": st.column_config.TextColumn("Model", width="medium"),
    "vs Popularity": st.column_config.TextColumn(
        "vs Popularity", help="On ranking quality (NDCG): ▲ better / ▼ worse only when a paired test over the "
        "same people says the difference is unlikely to be luck (p < 0.05)."),
    "Training time (s)": st.column_config.NumberColumn(
        "Time (s)", format="%.1f", help="Training plus measuring, in seconds."),
    "Device": st.column_config.TextColumn("Device", help="Where it trained: CPU, GPU (CUDA), or a Spark cluster."),
}
shown_columns, rest = leaderboard_columns(table, config, k)
st.dataframe(table, hide_index=True, width="stretch", column_config=config, column_order=shown_columns)
if rest:
    st.caption(f"Also measured: {', '.join(rest)}. See them under “One measure in detail” or in the full table.")
# The CSV has a paired test for every metric (the page tests NDCG and the measure shown): made on request.
if st.button("Prepare the full table (CSV)", key="results_csv_prepare",
             help="Every measure with its 95% range and its paired test against Popularity."):
    with ui.guard("preparing the table"), st.spinner("Testing every measure…"):
        st.session_state["results_csv_data"] = (tuple(ids), leaderboard.leaderboard_csv(board_for(None, None)))
ready = st.session_state.get("results_csv_data")
if ready and ready[0] == tuple(ids):
    st.download_button("Download the full table (CSV)", ready[1], file_name=f"leaderboard-{protocol}-seed{seed}.csv",
                       mime="text/csv", key="results_csv")

tuned_runs_section(same)

# -- one metric in detail ---------------------------------------------------------------------------
st.subheader("One measure in detail", anchor=False)
available = [m for m in leaderboard.METRICS if m in set(board["metric"])]
metric = st.selectbox(
    "Measure", available, key="results_metric", format_func=lambda m: leaderboard.metric_title(m, k),
    help="Hover a column header in the table above for each measure's definition.",
)
st.caption(leaderboard.metric_help(metric, k))
detail = board
with ui.guard("testing the differences"):
    detail = board_for(int(selected), (metric,))
rows = leaderboard.metric_comparison(detail, metric)
charts.show(
    _bar_with_errors(rows, f"{leaderboard.metric_title(metric, k)}, with 95% ranges",
                     leaderboard.metric_title(metric, k, short=True)),
    key="results_bars",
)
st.dataframe(
    rows, hide_index=True, width="stretch",
    column_order=["label", "value", "ci_low", "ci_high", "baseline", "vs_baseline", "vs_baseline_badge",
                  "vs_selected_badge"],
    column_config={
        "label": st.column_config.TextColumn("Model", width="medium"),
        "value": st.column_config.NumberColumn("Score", format="%.3f"),
        "ci_low": st.column_config.NumberColumn("95% range from", format="%.3f",
                                                help="The score's likely range if we tested on other people."),
        "ci_high": st.column_config.NumberColumn("to", format="%.3f"),
        "baseline": st.column_config.NumberColumn("Popularity", format="%.3f"),
        "vs_baseline": st.column_config.NumberColumn("Difference", format="%+.3f"),
        "vs_baseline_badge": st.column_config.TextColumn(
            "vs Popularity", help="Significant at p < 0.05 in a paired test over the same people."),
        "vs_selected_badge": st.column_config.TextColumn(
            f"vs {labels[int(selected)].split(' · ')[0]}",
            help="Compared with the model chosen at the top of the page (paired test, p < 0.05)."),
    },
)

# -- trade-off --------------------------------------------------------------------------------------
st.subheader("Accuracy versus discovery", anchor=False)
beyond = [m for m in ("novelty", "coverage", "diversity", "mean_popularity") if m in set(board["metric"])]
if beyond and "ndcg" in set(board["metric"]):
    other = st.selectbox("Against", beyond, key="results_other", format_func=lambda m: leaderboard.metric_title(m, k))
    points = leaderboard.tradeoff(board, "ndcg", other)
    fig = go.Figure(
        go.Scatter(
            x=points["x"], y=points["y"], mode="markers+text", text=[lbl.split(" · ")[0] for lbl in points["label"]],
            textposition="top center",
            marker=dict(size=14, color=[charts.MUTED if b else charts.ACCENT for b in points["is_baseline"]]),
            customdata=points[["label"]].to_numpy(),
            hovertemplate="<b>%{customdata[0]}</b><br>%{x:.3f}, %{y:.3f}<extra></extra>",
        )
    )
    charts.show(
        charts.style(fig, f"Ranking quality versus {leaderboard.metric_title(other, k).lower()}",
                     x=leaderboard.metric_title(other, k, short=True), y=leaderboard.metric_title("ndcg", k, short=True),
                     height=420),
        key="results_tradeoff",
    )
    st.caption("Top right is best of both: accurate and adventurous. " + leaderboard.metric_help(other, k))

# -- segments ---------------------------------------------------------------------------------------
def segment_figure(subset, colours: dict, title: str, k: int):
    """One group of bars per segment, one bar per model, each with its 95% interval and, above it, how
    many people it is measured on."""
    fig = go.Figure()
    for label, group in subset.groupby("label", sort=False):
        low = (group["ndcg"] - group["ndcg_low"]).clip(lower=0).fillna(0)
        high = (group["ndcg_high"] - group["ndcg"]).clip(lower=0).fillna(0)
        fig.add_trace(go.Bar(
            x=group["segment"], y=group["ndcg"], name=str(label).split(" · ")[0], marker_color=colours[label],
            error_y=dict(type="data", array=high, arrayminus=low, color=charts.INK, thickness=1.1, width=4),
            text=[f"{fmt.count(n)} {WORDS.people if n != 1 else WORDS.person}" for n in group["users"]],
            textposition="outside", cliponaxis=False, textfont=dict(size=11, color=charts.MUTED),
            customdata=group[["users", "ndcg_low", "ndcg_high"]].to_numpy(),
            hovertemplate="%{x}<br>NDCG %{y:.3f} (95% range %{customdata[1]:.3f} – %{customdata[2]:.3f})<br>"
                          "%{customdata[0]:,} " + WORDS.people + "<extra>" + str(label) + "</extra>",
        ))
    fig.update_layout(barmode="group", uniformtext=dict(minsize=9, mode="show"))
    return charts.style(fig, title, x="Segment", y=leaderboard.metric_title("ndcg", k, short=True), legend="Model")


def segments_section() -> None:
    st.subheader(f"Who gains: light vs heavy {WORDS.people}, popular vs niche {WORDS.items}", anchor=False)
    with ui.guard("breaking the results down"):
        parts = _segments(str(ui.get_store().home), tuple(ids), tuple(labels[i] for i in ids), tuple(same["finished_at"]),
                          int(dataset_id), str(protocol), int(seed))
        baseline = leaderboard.baseline_run_id(same)
        others = [label for run, label in labels.items() if run != baseline]
        colours = {label: charts.PALETTE[i % 5] for i, label in enumerate(others)}
        colours.update({labels[baseline]: charts.MUTED} if baseline in labels else {})
        seg_left, seg_right = st.columns(2)
        for column, kind, title in (
            (seg_left, "user activity", f"Ranking quality for light and heavy {WORDS.people}"),
            (seg_right, "item popularity", f"Ranking quality on popular and niche {WORDS.items}"),
        ):
            with column:
                charts.show(segment_figure(parts[parts["kind"] == kind], colours, title, k), key=f"results_segments_{kind}")
        st.caption(
            f"Light and heavy {WORDS.people}: the two halves by their number of training {WORDS.events}. "
            + words.in_words(f"{popularity_bands.definition().capitalize()} (counted on the training data). ", WORDS) +
            f"A group of fewer than 30 {WORDS.people} is merged into its neighbour: its average would say too "
            "little. Whiskers show the 95% range; the number above each bar is how many it is measured on."
        )


segments_section()

# -- exposure and sharing ---------------------------------------------------------------------------
sharing.show_exposure(int(dataset_id), ids, labels, tuple(same["finished_at"]))
sharing.report_downloads(int(dataset_id), ids, tuple(same["finished_at"]),
                         str((ui.dataset_summary(dataset_id) or {}).get("name") or "dataset"))
