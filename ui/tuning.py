"""The dashboard's view of tuning: the "Tune automatically" choice on the Train page, and a tuning run's
trials as a table and two charts (how the search went; which settings mattered), drawn with Plotly.

The search itself runs in the background worker (:mod:`recsys.tuning`); this module only reads the trials
the store holds (:meth:`recsys.store.Store.trials`)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from recsys import tuning
from recsys.models import MODELS
from ui import charts
from ui import format as fmt

MINUTES_CHOICES = (1, 2, 3, 5, 10, 15, 20, 30, 45, 60)
STATE_WORDS = {"complete": "Tried in full", "pruned": "Stopped early", "failed": "Failed"}
STATE_COLOURS = {"complete": charts.ACCENT, "pruned": charts.MUTED, "failed": charts.PALETTE[4]}


# -- the choice on the Train page ------------------------------------------------------------------
def tune_choice(key: str) -> dict[str, Any] | None:
    """The "Tune automatically" toggle and, when on, its time budget; returns the budget to submit
    (``{"minutes": m, "trials": None}``) or None for plain training."""
    on = st.toggle(
        "Tune automatically", key=f"{key}_on",
        help="Tastemaker tries many settings for each model on a validation part of the training data (never "
             "the test data), keeps the best, then trains it and tests it once, like any run.",
    )
    if not on:
        return None
    minutes = st.select_slider(
        "Time to spend searching, per model", options=MINUTES_CHOICES, value=int(tuning.DEFAULT_MINUTES),
        key=f"{key}_minutes", format_func=lambda m: f"{m} min",
        help="The search stops when this time is up; the best settings found by then are trained and tested.",
    )
    st.caption(f"Each model's settings are searched for {minutes} min, one model after another; a trial that is "
               "clearly worse than the others is stopped early. Settings you change below stay as you set "
               "them and are not searched.")
    return {"minutes": float(minutes), "trials": None}


def budget_for(model: str, tune: dict[str, Any] | None, fixed: dict[str, Any]) -> dict[str, Any] | None:
    """The budget to submit ``model`` with: ``tune``, or None when tuning is off or the model has no
    setting left to search (it then trains as set)."""
    return tune if tune is not None and tuning.search_space(model, fixed) else None


def untuned_note(picked: list[str], budgets: dict[str, Any], tune: dict[str, Any] | None) -> None:
    """Say which picked models train as set although tuning is on (nothing to search)."""
    plain = [model for model in picked if tune is not None and budgets.get(model) is None]
    if plain:
        from ui import words

        names = ", ".join(words.model_label(model) for model in plain)
        st.caption(f"{names}: nothing to tune, so {'it trains' if len(plain) == 1 else 'they train'} with the "
                   "settings as set.")


def finished_trials(store, finished: pd.DataFrame) -> None:
    """An expander with the trials of a finished tuning run of this dataset (the newest first)."""
    tuned = [run for run in finished.to_dict("records") if run.get("tune") and run.get("trials_done")]
    if not tuned:
        return
    from ui import words

    with st.expander("Settings tried by a tuning run"):
        labels = {int(run["id"]): f"{words.model_label(run['model'])} · run #{run['id']}" for run in tuned}
        chosen = st.selectbox("Tuning run", list(labels), format_func=labels.get, key="tuning_run")
        run = next(run for run in tuned if int(run["id"]) == chosen)
        if run["status"] == "done":
            st.markdown(f"**Chosen settings**: {tuning.settings_in_words(run['model'], run['params'])}")
        tuning_panel(run, store.trials(chosen), key="finished_tuning")


# -- a run's trials --------------------------------------------------------------------------------
def trials_frame(model: str, trials: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per trial, in plain words: number, settings, validation score, what happened, time."""
    scored = [t for t in trials if t["state"] != "failed" and t.get("value") is not None]
    best = max(scored, key=lambda t: t["value"])["number"] if scored else None
    rows = []
    for t in trials:
        outcome = STATE_WORDS.get(t["state"], t["state"])
        if t["state"] == "pruned" and t.get("note"):
            outcome += f": {t['note']}"
        elif t["state"] == "failed" and t.get("note"):
            outcome += f": {t['note']}"
        if t["number"] == 0:
            outcome += " (the defaults)"
        if t["number"] == best:
            outcome = "Best so far · " + outcome
        rows.append({
            "Trial": t["number"],
            "Settings": tuning.settings_in_words(model, t.get("params") or {}),
            "Validation NDCG@10": t.get("value"),
            "Outcome": outcome,
            "Took": fmt.duration(t.get("seconds")),
        })
    return pd.DataFrame(rows, columns=["Trial", "Settings", "Validation NDCG@10", "Outcome", "Took"])


def history_figure(trials: list[dict[str, Any]], title: str = "How the search went") -> go.Figure:
    """Optimisation history: each trial's validation NDCG@10 by trial number (tried in full, stopped
    early, failed at the bottom) and the best score so far as a step line."""
    fig = go.Figure()
    for state, words in STATE_WORDS.items():
        chosen = [t for t in trials if t["state"] == state]
        if not chosen:
            continue
        values = [t.get("value") if t.get("value") is not None else 0.0 for t in chosen]
        fig.add_trace(go.Scatter(
            x=[t["number"] for t in chosen], y=values, mode="markers", name=words,
            marker=dict(color=STATE_COLOURS[state], size=9, symbol="x" if state == "failed" else "circle",
                        opacity=0.6 if state != "complete" else 1.0),
            hovertemplate="Trial %{x}: %{y:.3f}<extra>" + words + "</extra>",
        ))
    best, xs, ys = None, [], []
    for t in sorted(trials, key=lambda t: t["number"]):
        if t["state"] != "failed" and t.get("value") is not None and (best is None or t["value"] > best):
            best = t["value"]
        if best is not None:
            xs.append(t["number"])
            ys.append(best)
    if xs:
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="Best so far", line=dict(color=charts.INK, width=2,
                                 shape="hv"), hovertemplate="Best after trial %{x}: %{y:.3f}<extra></extra>"))
    fig.update_xaxes(rangemode="tozero", dtick=1 if len(trials) <= 15 else None)
    fig.update_yaxes(tickformat=".3f")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, x=0))
    return charts.style(fig, title, x="Trial", y="Validation NDCG@10", height=340)


def importance_figure(model: str, importances: dict[str, float], title: str = "Which settings mattered") -> go.Figure:
    """Each searched setting's share of the variation in validation score (fANOVA), largest first."""
    labels = {s.name: s.label for s in MODELS[model].settings}
    ranked = sorted(importances.items(), key=lambda kv: kv[1], reverse=True)
    names = [labels.get(name, name) for name, _ in ranked]
    shares = [value for _, value in ranked]
    fig = charts.bar(names, shares, title, x="Share of the difference it made", y="Setting", horizontal=True,
                     text=[fmt.percent(v, 0) for v in shares], hover="%{y}: %{x:.0%}<extra></extra>")
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_layout(height=max(200, 90 + 40 * len(names)))
    return fig


def tuning_panel(run: dict[str, Any], trials: list[dict[str, Any]], key: str) -> None:
    """A tuning run's trials: a sentence, the history and importance charts, and the table."""
    model = run["model"]
    found = run.get("tune") or {}
    counts = {state: sum(t["state"] == state for t in trials) for state in STATE_WORDS}
    if not trials:
        st.caption("The first trial (the model's default settings) is running; its score appears here when it ends.")
        return
    scored = [t for t in trials if t["state"] != "failed" and t.get("value") is not None]
    text = (f"{fmt.plural(len(trials), 'trial')} so far: {counts['complete']} tried in full, "
            f"{counts['pruned']} stopped early, {counts['failed']} failed.")
    if scored:
        best = max(scored, key=lambda t: t["value"])
        text += (f" Best validation NDCG@10 {fmt.metric(best['value'])} (trial {best['number']}: "
                 f"{tuning.settings_in_words(model, best['params'])}).")
        default = next((t for t in scored if t["number"] == 0), None)
        if default is not None and best["number"] != 0:
            text += f" The defaults scored {fmt.metric(default['value'])}."
    if found.get("ended_by"):
        text += " " + {"time": "The time budget ended the search.", "trials": "All planned trials ran.",
                       "cancelled": "The search was cancelled."}.get(found["ended_by"], "")
    st.caption(text + " Scores are on the validation part, never the test data (higher is better).")
    charts.show(history_figure(trials), key=f"{key}_history")
    importances = tuning.setting_importances(model, trials)
    if importances:
        charts.show(importance_figure(model, importances), key=f"{key}_importance")
    else:
        st.caption("Which settings mattered most shows once three trials have run in full.")
    st.dataframe(trials_frame(model, trials), hide_index=True, key=f"{key}_table", width="stretch", column_config={
        "Trial": st.column_config.NumberColumn("Trial", width=44),
        "Settings": st.column_config.TextColumn("Settings", width="medium"),
        "Validation NDCG@10": st.column_config.NumberColumn(
            "Validation", format="%.4f", width=70, help="NDCG@10 on the validation part: ranking quality, 0 to 1."),
        "Outcome": st.column_config.TextColumn("Outcome", width="medium"),
        "Took": st.column_config.TextColumn("Took", width=60),
    })


def tuned_label(run: dict[str, Any]) -> str:
    """`` (tuned)`` for a tuning run, else empty: appended to a model's name in tables."""
    return " (tuned)" if run.get("tune") else ""
