"""The dashboard's one chart look: a Plotly template in the brand colours, and small helpers that give
every chart a title and titled axes.

Use ``style(fig, title=..., x=..., y=...)`` on any Plotly figure, or the ready-made helpers below, and
show it with ``show(fig)`` (full width, no Plotly logo, offline-safe).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from recsys.chart_style import (  # noqa: F401 - the look lives in recsys, shared with the report
    ACCENT,
    DIVERGING,
    FONT,
    GRID,
    INK,
    MUTED,
    PALETTE,
    PAPER,
    PLOTLY_CONFIG,
    SEQUENTIAL,
    TEMPLATE_NAME,
    style,
)


def show(fig: go.Figure, key: str | None = None) -> None:
    """Show a figure full width with the dashboard's Plotly settings (no logo, the theme kept)."""
    st.plotly_chart(fig, width="stretch", theme=None, config=PLOTLY_CONFIG, key=key)


def bar(labels, values, title: str, x: str, y: str, horizontal: bool = False, color: str = ACCENT,
        text=None, hover: str | None = None) -> go.Figure:
    """A single-series bar chart with titled axes."""
    if horizontal:
        trace = go.Bar(x=values, y=labels, orientation="h", marker_color=color, text=text,
                       hovertemplate=hover)
        fig = go.Figure(trace)
        fig.update_yaxes(autorange="reversed")
    else:
        fig = go.Figure(go.Bar(x=labels, y=values, marker_color=color, text=text, hovertemplate=hover))
    return style(fig, title, x=x, y=y)


def line(series: dict, title: str, x: str, y: str, legend: str | None = None,
         markers: bool = True, log_y: bool = False) -> go.Figure:
    """Lines from ``{name: (xs, ys)}`` with titled axes (one colour per name, in palette order)."""
    fig = go.Figure()
    for name, (xs, ys) in series.items():
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), name=str(name),
                                 mode="lines+markers" if markers else "lines"))
    if log_y:
        fig.update_yaxes(type="log")
    return style(fig, title, x=x, y=y, legend=legend)
