"""The one chart look of Tastemaker, for the dashboard and the report: a Plotly template in the brand
colours and :func:`style`, which gives a chart its title and titled axes. No Streamlit here
(``ui.charts`` shows these figures on the pages)."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

# Brand palette (also in .streamlit/config.toml). First colour = the accent.
ACCENT = "#E4572E"
INK = "#1E2230"
MUTED = "#7A8290"
GRID = "#ECE7E1"
PAPER = "#FFFFFF"
PALETTE = ["#E4572E", "#2F4B7C", "#29A19C", "#F2B134", "#8E5C9E", "#7A8290", "#D4785B", "#5C8DC7",
           "#A7C957", "#C0396B"]
SEQUENTIAL = ["#FFF4EC", "#FDC7AA", "#F2825A", "#E4572E", "#A53616", "#5C1D0A"]
DIVERGING = ["#2F4B7C", "#8DA3C7", "#F7F4F0", "#F2825A", "#A53616"]
FONT = '"Source Sans", "Source Sans Pro", "Source Sans 3", "Helvetica Neue", Helvetica, Arial, sans-serif'

TEMPLATE_NAME = "tastemaker"


def _build_template() -> go.layout.Template:
    axis = dict(
        showgrid=True, gridcolor=GRID, zeroline=False, linecolor=GRID, ticks="outside", tickcolor=GRID,
        title=dict(font=dict(size=13, color=MUTED)), tickfont=dict(size=12, color=INK), automargin=True,
    )
    template = go.layout.Template()
    template.layout = go.Layout(
        font=dict(family=FONT, size=13, color=INK),
        title=dict(font=dict(size=16, color=INK), x=0, xanchor="left", y=0.97, yanchor="top", pad=dict(b=6)),
        paper_bgcolor=PAPER,
        plot_bgcolor=PAPER,
        colorway=PALETTE,
        colorscale=dict(sequential=[[i / (len(SEQUENTIAL) - 1), c] for i, c in enumerate(SEQUENTIAL)],
                        diverging=[[i / (len(DIVERGING) - 1), c] for i, c in enumerate(DIVERGING)]),
        xaxis=axis,
        yaxis=axis,
        legend=dict(bgcolor="rgba(255,255,255,0)", font=dict(size=12), title=dict(font=dict(color=MUTED))),
        hoverlabel=dict(font=dict(family=FONT, size=13), bgcolor=PAPER, bordercolor=GRID),
        margin=dict(l=10, r=10, t=56, b=10),
        bargap=0.12,
        separators=".,",
    )
    template.data.bar = [go.Bar(marker=dict(line=dict(width=0)))]
    template.data.histogram = [go.Histogram(marker=dict(color=ACCENT, line=dict(width=0)))]
    template.data.scatter = [go.Scatter(marker=dict(size=8, line=dict(width=0)))]
    return template


pio.templates[TEMPLATE_NAME] = _build_template()


def style(fig: go.Figure, title: str, x: str | None = None, y: str | None = None,
          height: int | None = 360, legend: str | None = None) -> go.Figure:
    """Apply the Tastemaker look and set the chart title and axis titles (every chart has them)."""
    fig.update_layout(template=TEMPLATE_NAME, title=dict(text=title))
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    if height is not None:
        fig.update_layout(height=height)
    if legend is not None:
        fig.update_layout(legend=dict(title=dict(text=legend)))
    return fig


PLOTLY_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"], "responsive": True}
