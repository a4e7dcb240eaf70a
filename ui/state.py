"""Session state and cached access to the store, shared by every page.

* ``get_store()``: the one :class:`recsys.store.Store` for this server (per ``TASTEMAKER_HOME``).
* ``current_dataset()`` / ``set_current_dataset(id)``: the dataset every page works on, kept in
  ``st.session_state`` so it follows the user from page to page, in the URL (``?dataset=3``) so a reload,
  back/forward or a shared link lands on it, and in the store (``Store.preference("last_dataset")``) so a
  new tab opens on the dataset last used; ``dataset_picker()`` changes it.
* ``url_selectbox(...)``: a select box whose choice is also in the URL (``?run=5``, ``?person=42``...).
* Cached loaders: ``load_dataset``, ``load_run_model``, ``load_evaluation``, ``run_recommendations``,
  ``profile`` (chart data of a dataset), ``device_info``. Everything in the cache is keyed by the store's
  folder and by ids that never change meaning (a dataset's content hash, a finished run's id).

Objects handed out by ``st.cache_resource`` are shared between sessions: treat them as read-only.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

CURRENT_DATASET = "tm_current_dataset"
MAX_CHOICES = 50_000  # items a type-ahead picker lists at once (larger catalogues are narrowed by a search)
LAST_DATASET = "last_dataset"  # the store's preference: the dataset a new tab opens on
DATASET_PARAM = "dataset"  # the URL's query parameter for the current dataset
POLL_SECONDS = 1.5  # how often live views (the run cards, the sidebar's worker) re-read the runs' records


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
    table = datasets()
    ids = [int(i) for i in table["id"]]
    in_url = _url_int(DATASET_PARAM)
    current = st.session_state.get(CURRENT_DATASET)
    if in_url in ids:  # a reload, back/forward or a shared link: the URL says which dataset
        chosen = in_url
    elif current is not None and int(current) in ids:
        chosen = int(current)
    else:  # a new tab: the dataset last used, else the newest of the user's own, else the demo
        chosen = _opening_dataset(store, table, demo)
    st.session_state[CURRENT_DATASET] = chosen
    _publish_dataset(chosen, remember=in_url is not None and in_url == chosen and in_url != current)


def _opening_dataset(store, table: pd.DataFrame, demo: int | None) -> int | None:
    """The dataset a session without one opens on: the one last used (remembered by the store), else the
    newest dataset that is not the demo, else the demo; never the demo while the user has their own."""
    ids = [int(i) for i in table["id"]]
    last = store.preference(LAST_DATASET)
    if isinstance(last, int) and last in ids:
        return last
    own = table[~table["is_demo"].astype(bool)]
    if not own.empty:
        return int(own["id"].iloc[-1])
    return demo if demo in ids else (ids[0] if ids else None)


def _url_int(name: str) -> int | None:
    """The URL's query parameter ``name`` as a whole number, None when absent or not a number."""
    raw = st.query_params.get(name)
    try:
        return int(str(raw))
    except (TypeError, ValueError):
        return None


def _publish_dataset(dataset_id: int | None, remember: bool = True) -> None:
    """Put the current dataset in the URL and, when ``remember``, in the store for the next new tab."""
    if dataset_id is None:
        if DATASET_PARAM in st.query_params:
            del st.query_params[DATASET_PARAM]
        return
    if st.query_params.get(DATASET_PARAM) != str(dataset_id):
        st.query_params[DATASET_PARAM] = str(dataset_id)
    if remember:
        get_store().set_preference(LAST_DATASET, int(dataset_id))


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
    """Make ``dataset_id`` the dataset every page works on (in this session, the URL and, for new tabs,
    the store)."""
    st.session_state[CURRENT_DATASET] = None if dataset_id is None else int(dataset_id)
    _publish_dataset(st.session_state[CURRENT_DATASET])


def url_value(param: str, key: str) -> str | None:
    """The URL's ``?param=`` when it came from outside this session's own choices (a reload, back/forward
    or a shared link), else None: a value the session wrote itself must not override what the user does
    next (a new search, another pick)."""
    raw = st.query_params.get(param)
    if raw is None or st.session_state.get(f"{key}__in_url") == raw:
        return None
    return str(raw)


def _write_url(param: str, key: str, value: Any) -> None:
    if st.query_params.get(param) != str(value):
        st.query_params[param] = str(value)
    st.session_state[f"{key}__in_url"] = str(value)


def url_selectbox(label: str, options: list, *, key: str, param: str, default: Any = None, where: Any = None,
                  **kwargs: Any) -> Any:
    """``st.selectbox`` over ``options`` whose choice also lives in the URL as ``?param=<option>``: a
    reload, back/forward or a shared link lands on the same choice (:func:`url_value`); otherwise the
    session's choice stays, else the URL's, else ``default`` (else the first option). Options are compared as text, so
    ids work as they are. ``where``: the container to draw in (a column...)."""
    if not options:
        return None
    by_text = {str(option): option for option in options}
    linked = url_value(param, key)
    in_url = st.query_params.get(param)
    if linked is not None and linked in by_text:
        st.session_state[key] = by_text[linked]
    elif st.session_state.get(key) not in options:  # e.g. back on this page: the URL still says which
        st.session_state[key] = by_text.get(str(in_url), default if default in options else options[0])
    user_change = kwargs.pop("on_change", None)

    def _changed() -> None:
        _write_url(param, key, st.session_state[key])
        if user_change is not None:
            user_change()

    value = (where or st).selectbox(label, options, key=key, on_change=_changed, **kwargs)
    _write_url(param, key, value)
    return value


def dataset_summary(dataset_id: int | None) -> dict[str, Any] | None:
    """One row of ``list_datasets`` as a dict, or None when there is no such dataset."""
    if dataset_id is None:
        return None
    table = datasets()
    rows = table[table["id"] == int(dataset_id)]
    return None if rows.empty else rows.iloc[0].to_dict()


def nouns(dataset_id: int | None = None):
    """The words of a dataset (``recsys.nouns.Nouns``: "artist", "listener", "plays"...), the current
    dataset's by default; the generic "item"/"person" when there is none."""
    from recsys.nouns import Nouns, dataset_nouns

    summary = dataset_summary(current_dataset() if dataset_id is None else dataset_id)
    return Nouns() if summary is None else dataset_nouns(summary)


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
def _load_dataset(home: str, dataset_id: int, version: str):
    return _store_for(home).load_dataset(dataset_id)


def dataset_version(dataset_id: int) -> str:
    """What a cache of a dataset's contents is keyed by: its content hash and its catalogue's (a catalogue
    attached later changes it)."""
    summary = dataset_summary(dataset_id)
    if summary is None:
        return ""
    catalog = (summary.get("report") or {}).get("catalog") or {}
    return f"{summary.get('content_hash', '')}:{int(bool(summary.get('has_catalog')))}:{catalog.get('hash', '')}"


def load_dataset(dataset_id: int):
    """``(Interactions, Catalog | None)`` of a saved dataset, cached (read-only: shared between tabs)."""
    return _load_dataset(_home(), int(dataset_id), dataset_version(dataset_id))


@st.cache_resource(show_spinner=False, max_entries=4)
def _item_choices(home: str, dataset_id: int, version: str, events: str) -> tuple[list[str], dict[str, str], list[str]]:
    from recsys.explore import item_labels

    inter, catalog = _load_dataset(home, dataset_id, version)
    counts = inter.item_counts()
    order = np.argsort(-counts, kind="stable")
    labels = item_labels(inter.item_ids, catalog)
    ids = labels["item_id"].to_numpy()[order].tolist()
    titles = labels["title"].to_numpy()[order].tolist()
    shown = {i: f"{t} ({int(n):,} {events})" for i, t, n in zip(ids, titles, counts[order], strict=True)}
    return ids, shown, [str(t).lower() for t in titles]


def item_choices(dataset_id: int, query: str = "", limit: int = MAX_CHOICES) -> tuple[list[str], dict[str, str]]:
    """Every item of a dataset for a type-ahead picker, most interacted first: (item ids, id -> "Title
    (1,234 plays)"). Built once per dataset (cached). A catalogue of more than ``limit`` items is narrowed
    to the titles containing ``query`` (all items match an empty query), so the picker stays quick."""
    n = nouns(dataset_id)
    ids, shown, lowered = _item_choices(_home(), int(dataset_id), dataset_version(dataset_id), n.events)
    if len(ids) <= limit:
        return ids, shown
    query = (query or "").strip().lower()
    picked = [i for i, t in zip(ids, lowered, strict=True) if query in t or i == query] if query else ids
    return picked[:limit], shown


@st.cache_data(show_spinner="Profiling the dataset…", max_entries=8)
def _profile(home: str, dataset_id: int, version: str) -> dict[str, Any]:
    from recsys.profile import profile_frames

    inter, _ = _store_for(home).load_dataset(dataset_id)
    return profile_frames(inter)


def profile(dataset_id: int) -> dict[str, Any]:
    """Chart data of a saved dataset (``recsys.profile.profile_frames``), cached."""
    return _profile(_home(), int(dataset_id), dataset_version(dataset_id))


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
    """The background worker in words, from the runs' own records: ``state`` (running / idle / stopped),
    ``label`` ("Training Implicit ALS · run #5"), ``note`` ("pass 3 of 10 · 2 waiting") and ``active``
    (True while anything is training or waiting, so the sidebar keeps itself fresh)."""
    from ui import words

    try:
        from recsys import jobs

        store = get_store()
        info = jobs.worker_state(store)
        running = store.list_runs(status="running")
    except Exception:  # noqa: BLE001 - the sidebar must never break a page
        return {"state": "stopped", "label": "Unknown", "note": "The worker's state cannot be read.", "active": False}
    queued = int(info.get("queued") or 0)
    waiting = f"{queued} waiting" if queued else "nothing waiting"
    if not running.empty:
        run = running.sort_values("id").iloc[0]
        step = words.PHASE_LABELS.get(str(run.get("phase") or ""), "Working")
        if str(run.get("phase")) == "training" and run.get("epochs_total"):
            step = f"pass {int(run['epochs_done'] or 0)} of {int(run['epochs_total'])}"
        more = f" · {len(running) - 1} more training" if len(running) > 1 else ""
        return {"state": "running", "label": f"Training {words.model_label(run['model'])} · run #{int(run['id'])}",
                "note": f"{step}{more} · {waiting}", "active": True}
    if not info.get("alive"):
        note = "Starts by itself when you train a model." if not queued else f"{waiting}: starting…"
        return {"state": "stopped", "label": "Asleep", "note": note, "active": bool(queued)}
    if queued:
        return {"state": "idle", "label": "Starting the next run", "note": waiting, "active": True}
    return {"state": "idle", "label": "Ready", "note": waiting, "active": False}


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
