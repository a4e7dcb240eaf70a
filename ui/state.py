"""Session state and cached access to the store, shared by every page.

* ``get_store()``: the one :class:`recsys.store.Store` for this server (per ``TASTEMAKER_HOME``).
* ``current_dataset()`` / ``set_current_dataset(id)``: the dataset every page works on, kept in
  ``st.session_state`` so it follows the user from page to page; ``dataset_picker()`` changes it.
* Cached loaders: ``load_dataset``, ``load_run_model``, ``load_evaluation``, ``run_recommendations``,
  ``profile`` (chart data of a dataset), ``device_info``. Everything in the cache is keyed by the store's
  folder and by ids that never change meaning (a dataset's content hash, a finished run's id).

Objects handed out by ``st.cache_resource`` are shared between sessions: treat them as read-only.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd
import streamlit as st

CURRENT_DATASET = "tm_current_dataset"


# -- store -----------------------------------------------------------------------------------------
def _home() -> str:
    return os.environ.get("TASTEMAKER_HOME", "")


@st.cache_resource(show_spinner=False)
def _store_for(home: str):
    from recsys.store import Store

    return Store(home or None)


def get_store():
    """The store of this server's data folder (``TASTEMAKER_HOME``, else ``./tastemaker-data``)."""
    return _store_for(_home())


@st.cache_resource(show_spinner="Setting up the demo dataset (first start only)…")
def _demo_id(home: str) -> int | None:
    demo = _store_for(home).ensure_demo()
    return None if demo is None else int(demo)


def start_session() -> None:
    """Once per run, from app.py: make sure the demo exists and a dataset is selected. A data folder
    that cannot be written is shown read-only, with the reason."""
    store = get_store()
    if store.read_only:
        st.warning(store.read_only_reason)
        demo = store.ensure_demo()
    else:
        demo = _demo_id(_home())
    current = st.session_state.get(CURRENT_DATASET)
    if current is None or not _dataset_exists(current):
        ids = datasets()["id"].tolist()
        st.session_state[CURRENT_DATASET] = demo if demo in ids else (ids[0] if ids else None)


# -- datasets --------------------------------------------------------------------------------------
def datasets() -> pd.DataFrame:
    """Every saved dataset (``Store.list_datasets``), oldest first."""
    return get_store().list_datasets()


def _dataset_exists(dataset_id: int) -> bool:
    return int(dataset_id) in set(datasets()["id"].tolist())


def current_dataset() -> int | None:
    """The id of the dataset the user works on (None only when there are no datasets at all)."""
    return st.session_state.get(CURRENT_DATASET)


def set_current_dataset(dataset_id: int | None) -> None:
    """Make ``dataset_id`` the dataset every page works on."""
    st.session_state[CURRENT_DATASET] = None if dataset_id is None else int(dataset_id)


def dataset_summary(dataset_id: int | None) -> dict[str, Any] | None:
    """One row of ``list_datasets`` as a dict, or None when there is no such dataset."""
    if dataset_id is None:
        return None
    table = datasets()
    rows = table[table["id"] == int(dataset_id)]
    return None if rows.empty else rows.iloc[0].to_dict()


def dataset_picker(label: str = "Dataset", key: str = "dataset_picker", help: str | None = None) -> int | None:
    """A select box of saved datasets bound to the current dataset; returns the chosen id."""
    table = datasets()
    if table.empty:
        st.info("No datasets yet: add one on the Data page.")
        return None
    names = dict(zip(table["id"].astype(int), table["name"], strict=False))
    ids = list(names)
    current = current_dataset()
    if current not in names:
        current = ids[0]
        set_current_dataset(current)
    # The widget's key includes the current dataset: when the dataset changes elsewhere (another page, a
    # save), a new widget starts from it, so the box never shows one dataset while the page uses another.
    widget_key = f"{key}_{current}"

    def _follow() -> None:
        set_current_dataset(st.session_state[widget_key])

    st.selectbox(label, ids, index=ids.index(current), format_func=lambda i: names.get(i, str(i)),
                 key=widget_key, on_change=_follow, help=help)
    return current_dataset()


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def _load_dataset(home: str, dataset_id: int, content_hash: str):
    return _store_for(home).load_dataset(dataset_id)


def load_dataset(dataset_id: int):
    """``(Interactions, Catalog | None)`` of a saved dataset, cached (read-only: shared between tabs)."""
    summary = dataset_summary(dataset_id)
    content_hash = "" if summary is None else str(summary.get("content_hash", ""))
    return _load_dataset(_home(), int(dataset_id), content_hash)


@st.cache_data(show_spinner="Profiling the dataset…", max_entries=8)
def _profile(home: str, dataset_id: int, content_hash: str) -> dict[str, Any]:
    from recsys.profile import profile_frames

    inter, _ = _store_for(home).load_dataset(dataset_id)
    return profile_frames(inter)


def profile(dataset_id: int) -> dict[str, Any]:
    """Chart data of a saved dataset (``recsys.profile.profile_frames``), cached."""
    summary = dataset_summary(dataset_id)
    content_hash = "" if summary is None else str(summary.get("content_hash", ""))
    return _profile(_home(), int(dataset_id), content_hash)


# -- runs ------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the trained model…", max_entries=8)
def _load_run_model(home: str, run_id: int, finished_at: Any):
    return _store_for(home).load_run_model(run_id)


def load_run_model(run_id: int):
    """The trained model of a finished run, cached (read-only: shared between tabs)."""
    return _load_run_model(_home(), int(run_id), get_store().run(int(run_id)).get("finished_at"))


@st.cache_resource(show_spinner="Loading the evaluation…", max_entries=16)
def _load_evaluation(home: str, run_id: int, finished_at: Any):
    return _store_for(home).load_evaluation(run_id)


def load_evaluation(run_id: int):
    """The ``Evaluation`` (per-user arrays included) of a finished run, cached."""
    return _load_evaluation(_home(), int(run_id), get_store().run(int(run_id)).get("finished_at"))


@st.cache_data(show_spinner="Loading recommendations…", max_entries=16)
def _run_recommendations(home: str, run_id: int, finished_at: Any) -> pd.DataFrame:
    return _store_for(home).run_recommendations(run_id)


def run_recommendations(run_id: int) -> pd.DataFrame:
    """The stored top-20 per user of a finished run (``user, item, rank, score``), cached."""
    return _run_recommendations(_home(), int(run_id), get_store().run(int(run_id)).get("finished_at"))


# -- machine and worker ----------------------------------------------------------------------------
@st.cache_data(ttl=30, show_spinner=False)
def device_info() -> dict[str, Any]:
    """``recsys.device.describe_device()`` of the default device (refreshed every 30 s)."""
    from recsys.device import describe_device

    return describe_device()


def cuda_available() -> bool:
    """True when a GPU is visible to torch."""
    return device_info()["kind"] == "cuda"


def worker_info() -> dict[str, Any]:
    """The background worker in words: ``state`` (running / idle / stopped), ``label``, ``note``."""
    try:
        from recsys import jobs

        info = jobs.worker_state(get_store())
    except Exception:  # noqa: BLE001 - the sidebar must never break a page
        return {"state": "stopped", "label": "Unknown", "note": "The worker's state cannot be read."}
    queued = int(info.get("queued") or 0)
    waiting = f"{queued} waiting" if queued else "nothing waiting"
    if not info.get("alive"):
        note = "Starts by itself when you train a model." if not queued else f"{waiting}: starting…"
        return {"state": "stopped", "label": "Asleep", "note": note}
    if info.get("run_id") is not None:
        return {"state": "running", "label": f"Training run #{info['run_id']}", "note": waiting}
    return {"state": "idle", "label": "Ready", "note": waiting}


def finished_runs_or_stop(dataset_id: int | None, empty_state) -> pd.DataFrame:
    """The dataset's finished runs (``leaderboard.finished_runs``); when there are none, draw
    ``empty_state()`` (only if a dataset is chosen) and stop the page."""
    from recsys import leaderboard
    from ui.errors import guard

    runs = None
    if dataset_id is not None:
        with guard("listing the trained models"):
            runs = leaderboard.finished_runs(get_store().list_runs(dataset_id))
    if runs is None or runs.empty:
        if dataset_id is not None:
            empty_state()
        st.stop()
    return runs
