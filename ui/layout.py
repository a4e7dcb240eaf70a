"""Page furniture shared by every page: the header, the sidebar, small cards."""

from __future__ import annotations

import html

import streamlit as st

from ui import format as fmt
from ui import state

_CSS = """
<style>
/* Tastemaker: a few touches on top of the theme in .streamlit/config.toml */
.tm-kicker {font-size: 0.78rem; font-weight: 700; letter-spacing: 0.08em; text-transform: uppercase;
            color: #E4572E; margin-bottom: -0.6rem;}
.tm-intro {color: #5B6070; font-size: 1.05rem; max-width: 52rem; margin-top: -0.4rem;}
.tm-side-label {font-size: 0.72rem; font-weight: 700; letter-spacing: 0.07em; text-transform: uppercase;
                color: #7A8290; margin: 0.2rem 0 0.1rem 0;}
.tm-side-value {font-weight: 600; color: #1E2230; line-height: 1.25;}
.tm-side-note {font-size: 0.82rem; color: #7A8290;}
.tm-dot {display: inline-block; width: 0.55rem; height: 0.55rem; border-radius: 50%; margin-right: 0.35rem;
         vertical-align: 0.05rem;}
.tm-pill {display: inline-block; padding: 0.05rem 0.55rem; border-radius: 999px; font-size: 0.8rem;
          background: #FDE8DF; color: #A53616; font-weight: 600; margin: 0 0.25rem 0.25rem 0;}
.tm-pill.grey {background: #EFECE8; color: #4B5060;}
[data-testid="stMetricValue"] {font-variant-numeric: tabular-nums;}
</style>
"""


def inject_css() -> None:
    """Add the dashboard's few style touches (call once per run, from app.py)."""
    st.html(_CSS)


def page_header(title: str, intro: str | None = None, kicker: str | None = None) -> None:
    """The top of a page: a small kicker line, the title and one or two sentences of what it is for."""
    if kicker:
        st.html(f'<div class="tm-kicker">{html.escape(kicker)}</div>')
    st.title(title, anchor=False)
    if intro:
        st.html(f'<p class="tm-intro">{html.escape(intro)}</p>')


def pills(labels: list[str], grey: bool = False) -> None:
    """A row of small rounded labels (model names, genres...)."""
    cls = "tm-pill grey" if grey else "tm-pill"
    st.html("".join(f'<span class="{cls}">{html.escape(str(label))}</span>' for label in labels))


def _side_block(label: str, value: str, note: str | None = None, dot: str | None = None) -> str:
    dot_html = f'<span class="tm-dot" style="background:{dot}"></span>' if dot else ""
    note_html = f'<div class="tm-side-note">{html.escape(note)}</div>' if note else ""
    return (f'<div class="tm-side-label">{html.escape(label)}</div>'
            f'<div class="tm-side-value">{dot_html}{html.escape(value)}</div>{note_html}')


WORKER_DOTS = {"running": "#29A19C", "idle": "#F2B134", "stopped": "#B8BCC4"}


def sidebar() -> None:
    """The sidebar under the page list: current dataset, compute device, background worker."""
    with st.sidebar:
        st.divider()
        summary = state.dataset_summary(state.current_dataset())
        if summary is None:
            st.html(_side_block("Dataset", "None yet", "Add one on the Data page."))
        else:
            words = state.nouns(summary["id"])
            note = (f"{fmt.compact(summary['n_interactions'])} {words.events} · {fmt.compact(summary['n_users'])} "
                    f"{words.people} · {fmt.compact(summary['n_items'])} {words.items}")
            st.html(_side_block("Dataset", summary["name"], note))

        device = state.device_info()
        if device["kind"] == "cuda":
            note = f"{fmt.size(device['free_bytes'])} free of {fmt.size(device['total_bytes'])}"
            st.html(_side_block("Compute", f"GPU · {device['name']}", note, dot="#29A19C"))
        else:
            st.html(_side_block("Compute", "CPU", "No GPU found: models train on the processor.", dot="#B8BCC4"))

        worker = state.worker_info()
        if worker.get("active"):
            _worker_live()
        else:
            _worker_block(worker)


def _worker_block(worker: dict) -> None:
    st.html(_side_block("Training worker", worker["label"], worker.get("note"),
                        dot=WORKER_DOTS.get(worker["state"], "#B8BCC4")))


@st.fragment(run_every=state.POLL_SECONDS)
def _worker_live() -> None:
    """The worker's state, from the runs' records, re-read as often as the run cards while anything trains or waits."""
    _worker_block(state.worker_info())
