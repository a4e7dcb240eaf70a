"""Plotly figures that the dashboard and the stakeholder report both show, drawn from the plain tables
of :mod:`recsys.profile`, :mod:`recsys.exposure` and the leaderboard, in the look of
:mod:`recsys.chart_style`. Each function returns a figure with a title and titled axes."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from recsys.chart_style import ACCENT, INK, MUTED, PALETTE, style
from recsys.popularity_bands import HEAD_PERCENT, HITS_PERCENT


def count_bars(frame: pd.DataFrame, title: str, x: str, y: str, color: str = ACCENT) -> go.Figure:
    """Bars of :func:`recsys.profile.count_histogram` (entities per interaction-count bin), log y axis."""
    fig = go.Figure(go.Bar(
        x=frame["label"], y=frame["entities"], marker_color=color, customdata=frame["share"] * 100,
        hovertemplate="%{x} interactions: %{y:,} (%{customdata:.1f}%)<extra></extra>",
    ))
    fig.update_yaxes(type="log", dtick=1, tickformat=",")
    fig.update_xaxes(type="category")
    return style(fig, title, x=x, y=y, height=330)


def value_bars(values: pd.DataFrame, rating: bool) -> go.Figure:
    """Bars of :func:`recsys.profile.value_distribution`."""
    fig = go.Figure(go.Bar(
        x=values["label"], y=values["interactions"], marker_color=PALETTE[2], customdata=values["share"] * 100,
        hovertemplate="%{x}: %{y:,} (%{customdata:.1f}%)<extra></extra>",
    ))
    fig.update_xaxes(type="category")
    return style(fig, "How are ratings spread?" if rating else "How are weights spread?",
                 "Rating" if rating else "Weight (plays, clicks…)", "Interactions", height=330)


def timeline(frame: pd.DataFrame, period: str) -> go.Figure:
    """Interactions per period from :func:`recsys.profile.activity_over_time`."""
    fig = go.Figure(go.Scatter(
        x=frame["period"], y=frame["interactions"], mode="lines", line=dict(color=PALETTE[4], width=2),
        fill="tozeroy", fillcolor="rgba(142,92,158,0.15)", customdata=frame["active_users"],
        hovertemplate="%{x|%d %b %Y}: %{y:,} interactions by %{customdata:,} people<extra></extra>",
    ))
    return style(fig, "Activity over time", period.capitalize(), f"Interactions per {period}", height=330)


def metric_bars(rows: pd.DataFrame, title: str, axis: str) -> go.Figure:
    """One bar per run with its 95% interval (rows of the leaderboard's ``metric_comparison``:
    ``label``, ``value``, ``err_minus``, ``err_plus``, ``ci_low``, ``ci_high``, ``is_baseline``,
    ``vs_baseline_badge``); Popularity in grey."""
    colours = [MUTED if b else ACCENT for b in rows["is_baseline"]]
    fig = go.Figure(go.Bar(
        x=[str(label).split(" · ")[0] for label in rows["label"]], y=rows["value"], marker_color=colours,
        error_y=dict(type="data", array=rows["err_plus"], arrayminus=rows["err_minus"], color=INK,
                     thickness=1.2, width=5),
        customdata=rows[["ci_low", "ci_high", "vs_baseline_badge"]].fillna("").to_numpy(),
        hovertemplate="<b>%{x}</b><br>%{y:.3f} (95% range %{customdata[0]:.3f} – %{customdata[1]:.3f})"
                      "<br>vs Popularity: %{customdata[2]}<extra></extra>",
    ))
    return style(fig, title, x="Model", y=axis, height=380)


def training_curve(epochs: pd.DataFrame, title: str) -> go.Figure:
    """Loss per epoch (left axis) and the validation score where it was measured (right axis), from
    :meth:`recsys.store.Store.epochs`."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=epochs["epoch"], y=epochs["loss"], name="Training loss", mode="lines+markers",
                             line=dict(color=PALETTE[1])))
    scored = epochs.dropna(subset=["validation"]) if "validation" in epochs else epochs.iloc[0:0]
    if len(scored):
        metric = str(scored["metric"].iloc[0] or "validation").upper().replace("@", " at ")
        fig.add_trace(go.Scatter(x=scored["epoch"], y=scored["validation"], name=f"Validation {metric}",
                                 mode="lines+markers", line=dict(color=ACCENT), yaxis="y2"))
        top = float(scored["validation"].max())
        fig.update_layout(yaxis2=dict(overlaying="y", side="right", showgrid=False, rangemode="tozero",
                                      range=[0, top * 1.25 if top > 0 else 1], tickformat=".2f",
                                      title=dict(text="Validation")))
    fig.update_layout(legend=dict(orientation="h", y=-0.3))
    if len(epochs) <= 20:
        fig.update_xaxes(dtick=1)
    style(fig, title, x="Epoch", height=300)
    fig.update_layout(yaxis=dict(title=dict(text="Loss")))
    return fig


def exposure_items(table: pd.DataFrame) -> go.Figure:
    """Share of recommendation slots on the biggest hits and on the popular items, one group per row of
    :func:`recsys.exposure.exposure_table` (references in muted colours)."""
    labels = [str(label).split(" · ")[0] for label in table["label"]]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=table["hits_share"] * 100, name=f"Top {HITS_PERCENT}% of items (the biggest hits)",
                         marker_color=[MUTED if r else ACCENT for r in table["is_reference"]],
                         hovertemplate="%{x}: %{y:.1f}% of slots<extra>top " + str(HITS_PERCENT) + "%</extra>"))
    fig.add_trace(go.Bar(x=labels, y=table["popular_share"] * 100,
                         name=f"Top {HEAD_PERCENT}% of items (popular)",
                         marker_color=["#B9BEC6" if r else PALETTE[1] for r in table["is_reference"]],
                         hovertemplate="%{x}: %{y:.1f}% of slots<extra>top " + str(HEAD_PERCENT) + "%</extra>"))
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.25))
    fig.update_yaxes(range=[0, 100], ticksuffix="%")
    return style(fig, "Where the recommendation slots go", x="Model (and references)", y="Share of slots", height=380)


def exposure_creators(table: pd.DataFrame, noun: str = "creators") -> go.Figure:
    """The ten biggest creators' share of slots per row of :func:`recsys.exposure.exposure_table`, with
    their share of the data as a line."""
    labels = [str(label).split(" · ")[0] for label in table["label"]]
    data_share = float(table["top_creators_data_share"].dropna().iloc[0]) * 100
    fig = go.Figure(go.Bar(
        x=labels, y=table["top_creators_slot_share"] * 100, name=f"Slots for the ten biggest {noun}",
        marker_color=[MUTED if r else ACCENT for r in table["is_reference"]],
        customdata=table[["creators_shown", "creators"]].to_numpy(),
        hovertemplate="%{x}: %{y:.1f}% of slots; %{customdata[0]:,} of %{customdata[1]:,} " + noun
                      + " shown<extra></extra>",
    ))
    fig.add_hline(y=data_share, line=dict(color=INK, dash="dash", width=1.5),
                  annotation_text=f"their share of the data: {data_share:.0f}%", annotation_position="top left")
    fig.update_yaxes(range=[0, 100], ticksuffix="%")
    return style(fig, f"How much the ten biggest {noun} get", x="Model (and references)", y="Share of slots",
                 height=360)
