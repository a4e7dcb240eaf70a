"""Who gets exposure: how a model's recommendation slots spread over items and over the people or
companies who made them (artists, authors, studios, publishers, brands).

A *slot* is one position in one person's top-``k`` list; a run's lists are its stored recommendations
(the run's own top-20 for every person, cut at the run's ``k``). Definitions, all over the dataset's
items (its *catalogue*) and counted on every interaction of the dataset:

* ``hits_share``: share of all slots on the biggest hits, the top 1% of items by interactions;
* ``popular_share``: share of all slots on popular items, the top 10% (:mod:`recsys.popularity_bands`);
* ``gini``: Gini coefficient of slots per item over every item of the catalogue (0: every item shown
  equally often; near 1: a few items get every slot), :func:`recsys.metrics.gini`;
* ``coverage``: share of the catalogue's items shown in at least one list (``items_shown`` of
  ``n_items``);
* by creator, when the catalogue says who made each item: ``creators`` (how many creators have items
  with interactions), ``creators_shown`` (how many appear in at least one list), and for the
  ``top_creators`` (the ten creators with the most interactions; ties by name) their
  ``top_creators_slot_share`` of all slots next to their ``top_creators_data_share`` of all interactions.

*The data itself* is the reference with every interaction counted as a slot: what exposure would look
like if recommendations mirrored what people already do. Popularity's run is the other reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from recsys import metrics as m
from recsys import popularity_bands
from recsys.data import Catalog, Interactions
from recsys.popularity_bands import HEAD_PERCENT, HITS_PERCENT

FORMAT = 1
TOP_CREATORS = 10
DATA_LABEL = "The data itself"


def creators_of(catalog: Catalog | None, item_ids: np.ndarray) -> np.ndarray | None:
    """Who made each item (``""`` when unknown), one entry per item number; None when the catalogue has
    no creator column or names nobody."""
    if catalog is None or "creator" not in catalog.frame.columns:
        return None
    creators = catalog.align(item_ids)["creator"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
    return creators if (creators != "").any() else None


def creator_noun(catalog: Catalog | None) -> str:
    """What the catalogue calls its creators, plural and lower case: "artists", "authors", or "creators"."""
    column = ((catalog.report or {}).get("columns") or {}).get("creator") if catalog is not None else None
    word = " ".join(str(column or "creator").replace("_", " ").split()).lower() or "creator"
    return word if word.endswith("s") else word + "s"


def _slot_counts(recs: np.ndarray, n_items: int) -> np.ndarray:
    items = np.asarray(recs).ravel()
    items = items[items >= 0]
    return np.bincount(items, minlength=n_items)[:n_items].astype(np.float64)


def exposure_from_slots(
    slots: np.ndarray, item_counts: np.ndarray, creators: np.ndarray | None = None, top: int = TOP_CREATORS
) -> dict[str, Any]:
    """The figures of the module docstring from ``slots`` (slots per item number) and ``item_counts``
    (interactions per item number: who is popular); ``creators`` (one name per item number, ``""`` when
    unknown) adds the creator figures. Shares are 0 when there are no slots."""
    slots = np.asarray(slots, dtype=np.float64)
    counts = np.asarray(item_counts, dtype=np.float64)
    n_items = len(counts)
    total = float(slots.sum())

    def share(items: np.ndarray) -> float:
        return float(slots[items].sum() / total) if total > 0 else 0.0

    out: dict[str, Any] = {
        "format": FORMAT,
        "slots": int(round(total)),
        "n_items": int(n_items),
        "hits_percent": HITS_PERCENT,
        "head_percent": HEAD_PERCENT,
        "hits_share": share(popularity_bands.top_items(counts, HITS_PERCENT)),
        "popular_share": share(popularity_bands.top_items(counts, HEAD_PERCENT)),
        "gini": m.gini(slots),
        "items_shown": int(np.count_nonzero(slots)),
        "coverage": float(np.count_nonzero(slots) / max(1, n_items)),
        "creators": None,
    }
    if creators is not None:
        out["creators"] = _creator_figures(slots, counts, np.asarray(creators, dtype=object), top)
    return out


def _creator_figures(slots: np.ndarray, counts: np.ndarray, creators: np.ndarray, top: int) -> dict[str, Any]:
    known = creators != ""
    frame = pd.DataFrame({"creator": creators[known], "slots": slots[known], "interactions": counts[known]})
    per = frame.groupby("creator", sort=True)[["slots", "interactions"]].sum()
    per = per[per["interactions"] > 0].reset_index()
    # the biggest creators: most interactions first, ties by name
    per = per.sort_values(["interactions", "creator"], ascending=[False, True], kind="stable")
    biggest = per.head(top)
    total_slots, total_counts = float(slots.sum()), float(counts.sum())
    shown = set(creators[(slots > 0) & known])
    return {
        "creators": int(len(per)),
        "creators_shown": int(len(shown)),
        "top": int(top),
        "top_creators": biggest["creator"].astype(str).tolist(),
        "top_creators_slot_share": float(biggest["slots"].sum() / total_slots) if total_slots > 0 else 0.0,
        "top_creators_data_share": float(biggest["interactions"].sum() / total_counts) if total_counts > 0 else 0.0,
        "unknown_slot_share": float(slots[~known].sum() / total_slots) if total_slots > 0 else 0.0,
    }


def list_exposure(
    recommendations: pd.DataFrame, inter: Interactions, catalog: Catalog | None = None, k: int = 10
) -> dict[str, Any]:
    """Exposure of a run's stored lists (``user, item, rank[, score]`` in the file's own ids, as
    :meth:`recsys.store.Store.run_recommendations` returns them) cut at rank ``k``, counted against
    ``inter`` (the whole dataset). Items the dataset does not know are left out. Adds ``k`` and ``lists``
    (how many people have a list)."""
    frame = recommendations[recommendations["rank"] <= int(k)]
    items = inter.item_index(frame["item"].to_numpy())
    out = exposure_from_slots(_slot_counts(items, inter.n_items), inter.item_counts(),
                              creators_of(catalog, inter.item_ids))
    out.update(k=int(k), lists=int(frame["user"].nunique()))
    return out


def data_exposure(inter: Interactions, catalog: Catalog | None = None) -> dict[str, Any]:
    """The reference: the dataset's own interactions, each counted as one slot."""
    counts = inter.item_counts()
    out = exposure_from_slots(counts, counts, creators_of(catalog, inter.item_ids))
    out.update(k=None, lists=int(np.count_nonzero(inter.user_counts())))
    return out


def run_exposure(store, run_id: int, data: tuple[Interactions, Catalog | None] | None = None) -> dict[str, Any]:
    """A finished run's exposure: the figures the worker stored with it, or, for runs stored before
    they were kept, the same figures computed now from its stored lists (``data``: the run's dataset as
    :meth:`recsys.store.Store.load_dataset` returns it, to skip loading it again)."""
    stored = store.run_exposure(int(run_id))
    if stored is not None and stored.get("format") == FORMAT:
        return stored
    run = store.run(int(run_id))
    inter, catalog = data if data is not None else store.load_dataset(int(run["dataset_id"]))
    return list_exposure(store.run_recommendations(int(run_id)), inter, catalog, k=int(run["k"] or 10))


def exposure_table(
    store, dataset_id: int, runs: Sequence[tuple[int, str]], data: tuple[Interactions, Catalog | None] | None = None
) -> pd.DataFrame:
    """One row per run (``runs`` = (run id, label) pairs, in the order to show) and a last row for the
    data itself: ``run_id`` (None for the data), ``label``, ``is_reference`` (the data and Popularity
    runs), ``k``, ``lists``, ``slots``, ``hits_share``, ``popular_share``, ``gini``, ``coverage``,
    ``items_shown``, ``n_items`` and, when the catalogue names creators, ``creators``, ``creators_shown``,
    ``top_creators_slot_share``, ``top_creators_data_share`` (NaN otherwise). The dashboard's exposure
    view and the report both show this table."""
    inter, catalog = data if data is not None else store.load_dataset(int(dataset_id))
    rows = []
    for run_id, label in runs:
        figures = run_exposure(store, int(run_id), (inter, catalog))
        model = store.run(int(run_id))["model"]
        rows.append(_row(figures, int(run_id), label, model == "popularity"))
    rows.append(_row(data_exposure(inter, catalog), None, DATA_LABEL, True))
    return pd.DataFrame(rows)


def _row(figures: dict[str, Any], run_id: int | None, label: str, reference: bool) -> dict[str, Any]:
    creators = figures.get("creators") or {}
    return {
        "run_id": run_id, "label": label, "is_reference": reference, "k": figures.get("k"),
        "lists": figures.get("lists"), "slots": figures["slots"], "hits_share": figures["hits_share"],
        "popular_share": figures["popular_share"], "gini": figures["gini"], "coverage": figures["coverage"],
        "items_shown": figures["items_shown"], "n_items": figures["n_items"],
        "creators": creators.get("creators", np.nan), "creators_shown": creators.get("creators_shown", np.nan),
        "top_creators_slot_share": creators.get("top_creators_slot_share", np.nan),
        "top_creators_data_share": creators.get("top_creators_data_share", np.nan),
        "top_creators": creators.get("top_creators"),
    }


def exposure_sentences(table: pd.DataFrame, noun: str = "creators") -> list[str]:
    """Plain sentences on the table of :func:`exposure_table`: what the data does, then each model."""
    out: list[str] = []
    data = table[table["run_id"].isna()]
    if data.empty:
        return out
    ref = data.iloc[0]
    out.append(
        f"In the data itself, the top {HITS_PERCENT}% of items hold {ref['hits_share']:.0%} of all interactions and "
        f"the top {HEAD_PERCENT}% (the popular items) {ref['popular_share']:.0%}."
    )
    has_creators = bool(pd.notna(ref["top_creators_data_share"]))
    for _, row in table[table["run_id"].notna()].iterrows():
        line = (f"{str(row['label']).split(' · ')[0]} gives {row['hits_share']:.0%} of its slots to the top {HITS_PERCENT}% and "
                f"{row['popular_share']:.0%} to the popular items, and shows {row['coverage']:.1%} of the catalogue")
        if has_creators and pd.notna(row["top_creators_slot_share"]):
            line += (f"; the ten biggest {noun} get {row['top_creators_slot_share']:.0%} of its slots "
                     f"(they hold {ref['top_creators_data_share']:.0%} of the data), and "
                     f"{int(row['creators_shown']):,} of {int(ref['creators']):,} {noun} appear at all")
        out.append(line + ".")
    return out


def exposure_display(table: pd.DataFrame, noun: str = "creators") -> pd.DataFrame:
    """The table of :func:`exposure_table` as people read it (text cells), shown alike by the dashboard
    and the report: one row per model and reference; shares of slots on the top 1% and top 10% of
    items, Gini of exposure, catalogue shown and, when the catalogue names creators, the ten biggest
    creators' share of slots and how many creators appear."""

    def pct(value: float) -> str:
        return "–" if value is None or not np.isfinite(value) else f"{value * 100:.1f}%"

    out = pd.DataFrame({
        "Model": [str(label).split(" · ")[0] for label in table["label"]],
        f"Top {HITS_PERCENT}% of items": [pct(v) for v in table["hits_share"]],
        f"Top {HEAD_PERCENT}% (popular)": [pct(v) for v in table["popular_share"]],
        "Gini of exposure": [f"{v:.2f}" for v in table["gini"]],
        "Catalogue shown": [f"{pct(c)} ({int(n):,} items)" for c, n in zip(table["coverage"], table["items_shown"],
                                                                        strict=True)],
    })
    if table["top_creators_data_share"].notna().any():
        out[f"Ten biggest {noun}"] = [pct(v) for v in table["top_creators_slot_share"]]
        out[f"{noun.capitalize()} shown"] = [
            "–" if not np.isfinite(shown) else f"{int(shown):,} of {int(total):,}"
            for shown, total in zip(table["creators_shown"], table["creators"], strict=True)
        ]
    return out
