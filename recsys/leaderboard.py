"""The leaderboard's statistics: which runs are finished and comparable, which is best, every metric
with its interval, paired tests against Popularity and against a chosen run, the trade-off between
accuracy and discovery, and accuracy per segment of users and items.

Every function takes rows of :meth:`recsys.store.Store.list_runs` and stored
:class:`recsys.evaluation.Evaluation` objects (per-user arrays and top-k lists) and returns plain
DataFrames a page shows as they are. Nothing here ranks items for every test user: the worker did that
once, at evaluation time. Nothing here imports Streamlit.

Definitions: a run's *label* is "<model title> · run #<id>"; runs are *comparable* when they were
tested on the same split (protocol and seed); a *badge* says "▲ better" or "▼ worse" only when a paired
test over the same test users finds the difference significant (p < 0.05).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys.csv_export import csv_bytes
from recsys.data import DataError, Interactions
from recsys.engines import trained_on
from recsys.split import PROTOCOL_TITLES

if TYPE_CHECKING:  # models import torch; the leaderboard never needs it
    from recsys.models.base import Recommender

BASELINE_MODEL = "popularity"


# -- which runs ------------------------------------------------------------------------------------------
MODEL_TITLES: dict[str, str] = {
    "popularity": "Popularity",
    "random": "Random",
    "itemknn": "Similar items (ItemKNN)",
    "userknn": "Similar people (UserKNN)",
    "ease": "EASE",
    "ials": "Implicit ALS",
    "bpr": "BPR",
    "mf": "Matrix factorisation",
    "content": "Content-based",
    "multvae": "Mult-VAE",
}


def model_title(name: str) -> str:
    """A model's name for people ("itemknn" -> "Similar items (ItemKNN)"); unknown names unchanged."""
    return MODEL_TITLES.get(str(name), str(name))


def finished_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The finished (``status == "done"``) rows of a ``Store.list_runs`` table, newest first, with a
    ``label`` column for pickers: "Similar items (ItemKNN) · run #3", "BPR (tuned) · run #5" for a tuning
    run (plus the split when runs were tested in more than one way)."""
    if runs is None or runs.empty or "status" not in runs:
        return pd.DataFrame(columns=["id", "model", "protocol", "seed", "label"])
    done = runs[runs["status"] == "done"].sort_values("id", ascending=False).reset_index(drop=True)
    several_splits = done[["protocol", "seed"]].drop_duplicates().shape[0] > 1
    tuned = done["tune"].map(bool).tolist() if "tune" in done else [False] * len(done)
    labels = []
    for row, was_tuned in zip(done.itertuples(index=False), tuned, strict=True):
        label = f"{model_title(row.model)}{' (tuned)' if was_tuned else ''} · run #{row.id}"
        if several_splits:
            label += f" ({PROTOCOL_TITLES.get(row.protocol, 'another split')}, seed {row.seed})"
        labels.append(label)
    return done.assign(label=labels)


def tuned_settings(runs: pd.DataFrame) -> pd.DataFrame:
    """The tuning runs among ``finished_runs`` rows, one row each: ``run_id``, ``label``, ``settings`` (the
    chosen settings in plain words, as the worker stored them), ``validation`` (their validation
    NDCG@10), ``defaults`` (the defaults' validation NDCG@10), ``trials`` (how many were tried) and
    ``minutes`` (the search's time). Empty when no run was tuned."""
    columns = ["run_id", "label", "settings", "validation", "defaults", "trials", "minutes"]
    if runs is None or runs.empty or "tune" not in runs:
        return pd.DataFrame(columns=columns)
    rows = []
    for row in runs.to_dict("records"):
        tune = row.get("tune")
        if not tune:
            continue
        counts = tune.get("counts") or {}
        rows.append({
            "run_id": int(row["id"]), "label": row.get("label") or model_title(row["model"]),
            "settings": tune.get("settings_words") or "", "validation": tune.get("best_value"),
            "defaults": tune.get("default_value"), "trials": int(sum(counts.values())) if counts else None,
            "minutes": (tune.get("seconds") or 0.0) / 60 if tune.get("seconds") is not None else None,
        })
    return pd.DataFrame(rows, columns=columns)


def pending_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of a ``Store.list_runs`` table still waiting or training (``queued`` / ``running``)."""
    if runs is None or runs.empty or "status" not in runs:
        return pd.DataFrame(columns=["id", "model", "status"])
    return runs[runs["status"].isin(["queued", "running"])].reset_index(drop=True)


MAIN_METRIC = "ndcg"
TIE_BREAKERS = ("hit_rate", "recall", "map", "mrr")  # ranking metrics that settle an exact tie, in order


def best_run(runs: pd.DataFrame, metric: str = MAIN_METRIC) -> int | None:
    """The finished run to show first: the best on ``metric`` (see :func:`rank_runs`). With no values
    for it at all (runs stored without scores), the newest run; None when no run is finished.

    Every page ranks by a ranking metric, NDCG@k by default, which every model has: a rating predictor
    (``mf``) competes on how well it ranks, never on RMSE, which rankers do not have."""
    done = finished_runs(runs)
    if done.empty:
        return None
    ranked = rank_runs(done, metric)
    return int((ranked if len(ranked) else done)["id"].iloc[0])


def rank_runs(runs: pd.DataFrame, metric: str = MAIN_METRIC) -> pd.DataFrame:
    """The rows of ``runs`` (columns ``id``, ``model`` and one per metric, as in ``Store.list_runs``) that
    have a value for ``metric``, best first: highest, or lowest where lower is better (RMSE). An exact tie
    goes to the better :data:`TIE_BREAKERS` figure, then to a personalised model over Popularity and
    Random, then to the newer run (higher id)."""
    if runs is None or runs.empty or metric not in runs:
        return runs.iloc[0:0] if runs is not None else pd.DataFrame()
    info = METRICS.get(metric)
    sign = -1.0 if info is not None and info.higher_is_better is False else 1.0
    main = pd.to_numeric(runs[metric], errors="coerce")
    scored = runs[main.notna()]
    keys = {"_main": sign * main[main.notna()]}
    for extra in TIE_BREAKERS:
        if extra in scored and extra != metric:
            keys[f"_{extra}"] = pd.to_numeric(scored[extra], errors="coerce").fillna(-np.inf)
    keys["_personal"] = (~scored["model"].isin([BASELINE_MODEL, "random"])).astype(int)
    keys["_id"] = scored["id"].astype(int)
    ranked = scored.assign(**keys).sort_values(list(keys), ascending=False, kind="stable")
    return ranked.drop(columns=list(keys)).reset_index(drop=True)


def latest_run_per_model(runs: pd.DataFrame) -> pd.DataFrame:
    """The newest finished run of each model (for the persona box: one answer per model)."""
    return finished_runs(runs).drop_duplicates("model").reset_index(drop=True)


# -- leaderboard ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricInfo:
    """How a metric is shown: ``title`` in plain words (``{k}`` is the list length), ``definition`` for
    the help tooltip, ``kind`` ("accuracy", "beyond" or "rating"), and whether higher is better (None:
    neither, e.g. novelty is a matter of taste)."""

    title: str
    short: str
    definition: str
    kind: str
    higher_is_better: bool | None


METRICS: dict[str, MetricInfo] = {
    "hit_rate": MetricInfo(
        "How often a right item is in the top {k}", "Hit rate@{k}",
        "Share of people for whom at least one item they really went on to pick (held out from training) "
        "appears in their top {k}.", "accuracy", True),
    "ndcg": MetricInfo(
        "Ranking quality: right items near the top", "NDCG@{k}",
        "Normalised discounted cumulative gain: the right items found in the top {k}, each counted less the "
        "lower it sits (1 / log2(rank + 1)), divided by the best possible. 1 = perfect order, 0 = none found.",
        "accuracy", True),
    "recall": MetricInfo(
        "Share of what they picked that was found", "Recall@{k}",
        "Of the items a person really went on to pick, the share that appears in their top {k}.",
        "accuracy", True),
    "precision": MetricInfo(
        "Share of the top {k} that was right", "Precision@{k}",
        "Of the {k} recommendations, the share the person really went on to pick.", "accuracy", True),
    "map": MetricInfo(
        "Precision along the list", "MAP@{k}",
        "Mean average precision: precision at the rank of each right item in the top {k}, averaged.",
        "accuracy", True),
    "mrr": MetricInfo(
        "How high the first right item sits", "MRR@{k}",
        "Mean reciprocal rank: 1 / the rank of the first right item (1 when it is first, 0.5 second...), 0 "
        "when none is in the top {k}.", "accuracy", True),
    "auc": MetricInfo(
        "Chance a right item beats a random one", "AUC",
        "Area under the ROC curve: the chance that an item the person picked is ranked above an item they "
        "did not pick. 0.5 = coin toss, 1 = always.", "accuracy", True),
    "coverage": MetricInfo(
        "Share of the catalogue ever recommended", "Coverage",
        "Share of all items that appear in at least one person's top {k}.", "beyond", None),
    "novelty": MetricInfo(
        "How unexpected the picks are", "Novelty (bits)",
        "Mean self-information of the recommended items, -log2(share of people who picked the item): "
        "higher = less obvious, less popular items.", "beyond", None),
    "diversity": MetricInfo(
        "Variety within each list", "Diversity",
        "Average dissimilarity (1 - cosine of genres/tags, or of the model's item vectors) between pairs of "
        "items in the same top {k}.", "beyond", None),
    "mean_popularity": MetricInfo(
        "How mainstream the picks are", "Mean popularity",
        "Average number of training interactions of the recommended items.", "beyond", None),
    "gini": MetricInfo(
        "How concentrated exposure is", "Gini of exposure",
        "Gini coefficient of how often each item is recommended: 0 = every item equally often, 1 = always "
        "the same few.", "beyond", None),
    "rmse": MetricInfo(
        "Typical rating error (larger misses count more)", "RMSE",
        "Root mean squared error between predicted and actual held-out ratings, in rating points: lower is "
        "better.", "rating", False),
    "mae": MetricInfo(
        "Typical rating error", "MAE",
        "Mean absolute error between predicted and actual held-out ratings, in rating points: lower is "
        "better.", "rating", False),
}


def metric_title(metric: str, k: int = 10, short: bool = False) -> str:
    """Plain title of a metric (or its short technical name with ``short=True``)."""
    info = METRICS.get(metric)
    if info is None:
        return metric
    return (info.short if short else info.title).format(k=k)


def metric_help(metric: str, k: int = 10) -> str:
    """The definition of a metric, for a help tooltip."""
    info = METRICS.get(metric)
    return "" if info is None else f"{info.short.format(k=k)}: {info.definition.format(k=k)}"


def split_choices(runs: pd.DataFrame) -> pd.DataFrame:
    """The distinct ways finished runs were tested: columns ``protocol``, ``seed``, ``runs`` (count) and
    ``label``, the most used first."""
    done = finished_runs(runs)
    if done.empty:
        return pd.DataFrame(columns=["protocol", "seed", "runs", "label"])
    groups = done.groupby(["protocol", "seed"], sort=False).size().reset_index(name="runs")
    groups = groups.sort_values(["runs", "protocol", "seed"], ascending=[False, True, True]).reset_index(drop=True)
    groups["label"] = [
        f"{PROTOCOL_TITLES.get(p, 'another split')}, seed {s} ({n} {'run' if n == 1 else 'runs'})"
        for p, s, n in zip(groups["protocol"], groups["seed"], groups["runs"], strict=True)
    ]
    return groups


def leaderboard_runs(runs: pd.DataFrame, protocol: str, seed: int) -> pd.DataFrame:
    """Finished runs tested with ``protocol`` and ``seed`` (comparable with each other), newest first."""
    done = finished_runs(runs)
    same = done[(done["protocol"] == protocol) & (done["seed"].astype(int) == int(seed))]
    return finished_runs(same)


def baseline_run_id(runs: pd.DataFrame) -> int | None:
    """The Popularity run among ``runs`` (the automatic baseline first, then the oldest), or None."""
    if runs.empty:
        return None
    pop = runs[runs["model"] == BASELINE_MODEL]
    if pop.empty:
        return None
    baseline_flag = pop["is_baseline"].fillna(False).astype(bool) if "is_baseline" in pop else False
    pop = pop.assign(_first=~baseline_flag).sort_values(["_first", "id"])
    return int(pop["id"].iloc[0])


def _badge(comparison: dict[str, Any] | None, higher_is_better: bool | None) -> str:
    """"▲ better", "▼ worse" (or higher / lower when neither is better), "≈ no clear difference"."""
    if comparison is None or not comparison.get("users"):
        return ""
    if not comparison["significant"] or not np.isfinite(comparison["mean_diff"]):
        return "≈ no clear difference"
    up = comparison["mean_diff"] > 0
    if higher_is_better is None:
        return "▲ higher" if up else "▼ lower"
    return "▲ better" if up == higher_is_better else "▼ worse"


def leaderboard(
    runs: pd.DataFrame,
    evaluations: Mapping[int, Any],
    selected: int | None = None,
    metrics: Sequence[str] | None = None,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    tested: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every finished run (rows of ``runs``) on every metric, one row per (run, metric), with the
    Popularity run of the same split as reference.

    ``evaluations`` maps run id -> :class:`recsys.evaluation.Evaluation`. Columns: ``run_id``, ``model``,
    ``label``, ``is_baseline``, ``metric``, ``title``, ``kind``, ``k`` (list length), ``value``, ``ci_low``, ``ci_high`` (95%
    interval of the mean over test users; NaN for catalogue-wide metrics), ``baseline`` (Popularity's
    value), ``vs_baseline`` (difference), ``vs_baseline_p`` (paired test p-value, see
    :func:`recsys.evaluation.compare`), ``vs_baseline_badge``, and the same three against the
    ``selected`` run (``vs_selected``...), ``seconds`` (training + evaluation time) and ``device``.
    A badge says "▲ better" / "▼ worse" only when the paired difference is significant at ``alpha``.

    The paired tests are the costly part (``n_resamples`` times the number of test users, per run and
    metric): ``tested`` limits them to some metrics (None: every metric); the others keep their
    differences, with NaN p-values and empty badges.
    """
    from recsys.evaluation import compare

    rows: list[dict[str, Any]] = []
    baseline = baseline_run_id(runs)
    base_eval = evaluations.get(baseline) if baseline is not None else None
    sel_eval = evaluations.get(selected) if selected is not None else None
    for run in runs.itertuples(index=False):
        evaluation = evaluations.get(int(run.id))
        if evaluation is None:
            continue
        names = [m for m in (metrics or METRICS) if m in evaluation.summary]
        for metric in names:
            info = METRICS.get(metric, MetricInfo(metric, metric, "", "accuracy", True))
            low, high = evaluation.ci.get(metric, (math.nan, math.nan))
            row: dict[str, Any] = {
                "run_id": int(run.id), "model": run.model, "label": run.label,
                "is_baseline": int(run.id) == baseline, "metric": metric,
                "title": metric_title(metric, evaluation.k), "kind": info.kind, "k": int(evaluation.k),
                "value": float(evaluation.summary[metric]), "ci_low": float(low), "ci_high": float(high),
                "baseline": math.nan,
            }
            for prefix, other, other_id in (("vs_baseline", base_eval, baseline), ("vs_selected", sel_eval, selected)):
                row[prefix], row[f"{prefix}_p"], row[f"{prefix}_badge"] = math.nan, math.nan, ""
                if other is None or metric not in other.summary:
                    continue
                row[prefix] = float(evaluation.summary[metric] - other.summary[metric])
                if prefix == "vs_baseline":
                    row["baseline"] = float(other.summary[metric])
                if int(run.id) == other_id:
                    row[f"{prefix}_badge"] = "—"
                    continue
                if (tested is None or metric in tested) and metric in evaluation.per_user and metric in other.per_user:
                    result = compare(evaluation, other, metric, n_resamples=n_resamples, seed=seed, alpha=alpha,
                                     interval=False)  # the badge needs the test, not the interval
                    row[f"{prefix}_p"] = float(result["p_value"])
                    row[f"{prefix}_badge"] = _badge(result, info.higher_is_better)
            row["seconds"] = float(run.duration_seconds) if _is_number(getattr(run, "duration_seconds", None)) else math.nan
            row["device"] = trained_on(getattr(run, "engine", None), getattr(run, "device", None))
            rows.append(row)
    columns = [
        "run_id", "model", "label", "is_baseline", "metric", "title", "kind", "k", "value", "ci_low",
        "ci_high", "baseline", "vs_baseline", "vs_baseline_p", "vs_baseline_badge", "vs_selected", "vs_selected_p",
        "vs_selected_badge", "seconds", "device",
    ]
    return pd.DataFrame(rows, columns=columns)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(float(value))


def leaderboard_table(board: pd.DataFrame, badge_metric: str = MAIN_METRIC) -> pd.DataFrame:
    """One row per run, in :func:`rank_runs` order on ``badge_metric`` (the same order that picks
    :func:`best_run`): ``run_id``, ``Model``, one column per metric (its short name, e.g. "NDCG@10"),
    ``vs Popularity`` (the badge on ``badge_metric``), ``Training time (s)`` and ``Device``."""
    if board.empty:
        return pd.DataFrame(columns=["run_id", "Model"])
    first = board.drop_duplicates("run_id").set_index("run_id")
    k = _k_of(board)
    values = board.pivot(index="run_id", columns="metric", values="value")
    order = [m for m in METRICS if m in values.columns] + [m for m in values.columns if m not in METRICS]
    values = values[order]
    if badge_metric in order:
        keyed = values.assign(id=values.index, model=first["model"].reindex(values.index))
        ranked = rank_runs(keyed, badge_metric)["id"].tolist()
        values = values.loc[ranked + [r for r in values.index if r not in ranked]]
    values.columns = [metric_title(m, k, short=True) for m in order]
    table = pd.DataFrame({"Model": first["label"].reindex(values.index)}).join(values)
    badges = board[board["metric"] == badge_metric].set_index("run_id")["vs_baseline_badge"]
    table["vs Popularity"] = badges.reindex(table.index).fillna("")
    table["Training time (s)"] = first["seconds"].reindex(table.index)
    table["Device"] = first["device"].reindex(table.index).str.upper()
    table.index.name = "run_id"
    return table.reset_index()


def _k_of(board: pd.DataFrame) -> int:
    return int(board["k"].iloc[0]) if len(board) else 10


def metric_comparison(board: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of ``board`` for one metric, best first, with ``err_minus`` / ``err_plus`` (distance
    from the value to the interval's ends, 0 where there is no interval) for bar charts."""
    rows = board[board["metric"] == metric].copy()
    info = METRICS.get(metric)
    ascending = bool(info is not None and info.higher_is_better is False)
    rows = rows.sort_values("value", ascending=ascending, kind="stable").reset_index(drop=True)
    rows["err_minus"] = (rows["value"] - rows["ci_low"]).clip(lower=0).fillna(0.0)
    rows["err_plus"] = (rows["ci_high"] - rows["value"]).clip(lower=0).fillna(0.0)
    return rows


def tradeoff(board: pd.DataFrame, accuracy: str = "ndcg", other: str = "novelty") -> pd.DataFrame:
    """One point per run for an accuracy-versus-``other`` scatter: ``run_id``, ``label``, ``model``,
    ``is_baseline``, ``x`` (``other``), ``y`` (``accuracy``), with their interval ends ``x_low``,
    ``x_high``, ``y_low``, ``y_high`` (NaN where none)."""
    pick = ["run_id", "label", "model", "is_baseline", "value", "ci_low", "ci_high"]
    ys = board[board["metric"] == accuracy][pick].rename(columns={"value": "y", "ci_low": "y_low", "ci_high": "y_high"})
    xs = board[board["metric"] == other][["run_id", "value", "ci_low", "ci_high"]].rename(
        columns={"value": "x", "ci_low": "x_low", "ci_high": "x_high"})
    return ys.merge(xs, on="run_id", how="inner").reset_index(drop=True)


def leaderboard_csv(board: pd.DataFrame) -> bytes:
    """The leaderboard as CSV bytes (formula-safe, see :mod:`recsys.csv_export`): one row per run; per metric its value, 95% interval, difference to
    Popularity with its p-value and badge; then training time and device."""
    if board.empty:
        return b""
    first = board.drop_duplicates("run_id").set_index("run_id")
    out = pd.DataFrame({"run": first.index, "model": first["model"].to_numpy(), "label": first["label"].to_numpy()})
    out = out.set_index("run")
    for metric, group in board.groupby("metric", sort=False):
        g = group.set_index("run_id")
        for col, suffix in (("value", ""), ("ci_low", " low"), ("ci_high", " high"),
                            ("vs_baseline", " vs popularity"), ("vs_baseline_p", " p-value"),
                            ("vs_baseline_badge", " verdict")):
            out[f"{metric}{suffix}"] = g[col].reindex(out.index)
    out["seconds"] = first["seconds"]
    out["device"] = first["device"]
    return csv_bytes(out.reset_index(), float_format="%.6g")


def segment_breakdown(
    inter: Interactions,
    protocol: str,
    seed: int,
    evaluations: Mapping[str, Any],
    models: Mapping[str, Callable[[], Recommender]] | None = None,
) -> pd.DataFrame:
    """Accuracy per segment for several runs of one split: light vs heavy users and head vs long-tail
    items (see :func:`recsys.evaluation.segments`). ``evaluations`` maps a run label -> Evaluation.

    Nothing is ranked again: the user segments average the stored per-user metrics and the item segments
    score each evaluation's stored top-k lists (``Evaluation.recs``) against the test items of each
    segment. The split is made again (splits are deterministic for a seed) for the training counts and
    the test items, and checked against each evaluation's fingerprint. Runs stored before their lists
    were kept have ``recs`` None: for those only, ``models`` (same labels; each a function returning the
    run's evaluated model, called only when needed) ranks the same test users again; without it their
    item segments are left out. Every label has a row in every group (NaN scores where a model has none).
    Columns: ``label``, ``kind``, ``segment``, ``users``, ``ndcg``, ``ndcg_low``, ``ndcg_high`` (95%
    interval), ``recall``, ``rec_share``."""
    from dataclasses import replace

    from recsys.evaluation import segments
    from recsys.split import make_split

    split = make_split(inter, protocol, seed=int(seed))
    parts = []
    for label, evaluation in evaluations.items():
        if evaluation.split_fingerprint and evaluation.split_fingerprint != split.fingerprint():
            raise DataError(
                f"{label} was tested on a different version of this split (the data changed since?): "
                "train it again to see its breakdown."
            )
        load = (models or {}).get(label)
        if evaluation.recs is None and load is not None:
            recs, _ = load().recommend(evaluation.users, k=evaluation.k)
            evaluation = replace(evaluation, recs=recs)
        parts.append(segments(evaluation, split).assign(label=label))
    columns = ["label", "kind", "segment", "users", "ndcg", "ndcg_low", "ndcg_high", "recall", "rec_share"]
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(parts, ignore_index=True)
    # every model in every group: a group one model lacks is shown as a gap, never silently dropped
    groups = frame[["kind", "segment"]].drop_duplicates()
    full = groups.merge(pd.DataFrame({"label": list(evaluations)}), how="cross")
    frame = full.merge(frame, on=["label", "kind", "segment"], how="left")
    frame["users"] = frame["users"].fillna(0).astype(np.int64)
    return frame[columns]
