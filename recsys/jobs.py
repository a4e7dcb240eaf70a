"""Training in the background: the queue, the worker process, heartbeats, cancel, and size estimates.

The dashboard only ever calls :func:`submit`, :func:`ensure_worker`, :func:`worker_state`,
:func:`progress` and :func:`cancel`; training itself happens in a separate process,
``python -m recsys worker`` (:func:`run_worker`), never inside the web server.

Liveness: each worker has a row in the ``workers`` table whose ``heartbeat_at`` a background thread
refreshes every :data:`HEARTBEAT_SECONDS`. A running run whose worker process is gone (same machine: its
pid no longer exists), or whose heartbeat is older than :data:`STALE_SECONDS` (another machine), or
:data:`STALE_SECONDS_LOCAL` (same machine, process still there but silent), is marked ``interrupted``
with the reason, by the next worker or by :func:`worker_state`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from recsys.data import DataError, Interactions
from recsys.store import Store, StoreError, StoreFault

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 15.0
STALE_SECONDS_LOCAL = 300.0
STARTING_GRACE_SECONDS = 60.0
IDLE_EXIT_SECONDS = 60.0
POLL_SECONDS = 0.5
MAX_SECONDS = 7 * 24 * 3600  # an estimate beyond a week is refused
MEMORY_HEADROOM = 0.85  # plan to use at most this share of the free memory

log = logging.getLogger("recsys.jobs")


class JobRefused(ValueError):
    """A run cannot be queued; the message says why and what to change."""


# -- estimates -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """A guess of a run's cost. ``fits`` is False when it clearly cannot run; ``reason`` says why.
    ``phases`` splits ``seconds`` by what the worker does (``loading``, ``training``, ``evaluating``,
    ``refitting``: the serving model on all the data, ``saving``); ``epoch_seconds`` is the guess for
    one training epoch (None for one-shot models); ``basis`` says where the figures come from: this
    machine's per-model formula, or the finished runs of the same model it was calibrated on."""

    seconds: float
    memory_bytes: int
    fits: bool
    reason: str
    device: str
    phases: dict[str, float] = field(default_factory=dict)
    epoch_seconds: float | None = None
    basis: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        if self.device == "spark":  # the fits run on the cluster; loading, scoring and saving stay here
            where = "Spark cluster for training, and this machine's CPU for the rest"
        else:
            where = "GPU" if self.device.startswith("cuda") else "CPU"
        text = f"about {_duration(self.seconds)} and {_bytes(self.memory_bytes)} of memory on the {where}"
        return text if self.fits else f"{text}: {self.reason}"


# The cost model. A run is: load and split the data, train on the training part (iterative models also
# rank the validation users every ``validate_every`` epochs), evaluate on the test users (rank them, then
# score every item again for AUC), refit on all the data (the serving model), rank every user for the
# stored lists, save. Each model's training and one ranking pass over every user are counted in "units"
# (:func:`_fit_units`, :func:`_score_units`: the operations that dominate it); seconds per unit were
# measured once per model on this machine (2 CPU cores, busy with other work) by
# ``python -m benchmarks.estimates measure`` on the demo and a 100k-row play-count log. On such a busy
# machine the same run took 2-10x longer from one minute to the next (iterative models most: two torch
# threads competing for two shared cores), so these rates sit between its idle and busy speeds, and any
# machine's own finished runs correct them (:func:`_calibration`).
_FIT_RATE = {  # seconds per fit unit, CPU
    "popularity": 9e-9, "random": 6e-9, "itemknn": 4.1e-9, "userknn": 1.2e-8, "ease": 1.26e-10, "ials": 3.5e-9,
    "bpr": 2.2e-8, "mf": 2e-8, "content": 2e-7, "multvae": 7e-10,
}
_SCORE_RATE = {  # seconds per ranking unit, CPU
    "popularity": 1.2e-8, "random": 1.56e-8, "itemknn": 1.14e-9, "userknn": 5.3e-9, "ease": 9.9e-10, "ials": 1.5e-9,
    "bpr": 2.1e-9, "mf": 2.4e-9, "content": 6.3e-8, "multvae": 8.7e-11,
}
_DEFAULT_FIT_RATE, _DEFAULT_SCORE_RATE = 1e-8, 3e-9  # a model measured nowhere yet: treated as a factor model
_AUC_CELL_SECONDS = 6e-8  # evaluation: sorting one (test user, item) score for AUC, plus the other metrics
_LOAD_SECONDS, _LOAD_ROW_SECONDS = 0.1, 1.5e-6  # reading the dataset, splitting it, writing the results
_WRITE_BYTE_SECONDS = 2e-9  # saving the model (EASE's dense item x item weights are the large case)
_GPU_SPEEDUP = 8.0  # not measured on this machine: a modest guess for a GPU over these 2 cores
# The evaluated model trains on about this share of the interactions: the 80% training part, less a
# tenth for validation when the model is iterative (one-step models keep the whole training part).
_TRAIN_SHARE = {"iterative": 0.72, "one-step": 0.8}
_CALIBRATION_RUNS = 5  # the newest finished runs of a model that calibrate its estimate
_ROW_BYTES = 48  # per interaction: ids, values, timestamps, CSR copies, train/test split
_PROCESS_BYTES = 650 * 2**20  # a worker with torch, pandas and scikit-learn loaded (peaks measured: 0.7-0.9 GB)


def _data_stats(source: Any) -> tuple[int, int, int, bool]:
    """(n_users, n_items, n_interactions, has_catalog) from the accepted ``estimate`` sources."""
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Store):
        source = source[0].dataset(source[1])
    if isinstance(source, Interactions):
        return source.n_users, source.n_items, len(source), False
    if isinstance(source, dict):
        nnz = source.get("n_interactions", source.get("nnz"))
        return int(source["n_users"]), int(source["n_items"]), int(nnz), bool(source.get("has_catalog", False))
    raise TypeError("estimate() needs (store, dataset_id), a dataset dict, Interactions, or size figures")


def _epochs(name: str, p: dict[str, Any]) -> int:
    from recsys.models import MODELS

    return int(p.get("epochs") or 1) if name in MODELS and MODELS[name].iterative else 1


def _fit_units(name: str, p: dict[str, Any], n_users: int, n_items: int, nnz: float) -> float:
    """The work of one training on ``nnz`` interactions (all epochs)."""
    f, epochs = int(p.get("factors") or 64), _epochs(name, p)
    u, i = float(n_users), float(n_items)
    if name in ("popularity", "random", "userknn"):
        return nnz  # counting, or nothing to learn
    if name == "itemknn":
        return nnz * i + 2 * i * i  # co-occurrence of every item with every item, then top neighbours
    if name == "ease":  # the Woodbury form when there are fewer users than items, else a Cholesky inverse
        return u * u * i + nnz * i + 100 * i * i if u < i else i**3 + nnz * i + 100 * i * i  # + passes over B
    if name == "ials":
        steps = int(p.get("cg_steps") or 3)
        return epochs * steps * (nnz * f + (u + i) * f * f)
    if name == "content":
        return nnz + 100 * i  # TF-IDF of the catalogue, user profiles
    if name == "multvae":
        hidden = int(p.get("hidden") or 600)
        return epochs * (nnz * hidden + u * i * hidden)
    return epochs * nnz * f  # bpr, mf and any other factor model


def _score_units(name: str, p: dict[str, Any], n_users: int, n_items: int, nnz: float) -> float:
    """The work of ranking every item for every user once (top-k)."""
    u, i = float(n_users), float(n_items)
    if name == "itemknn":
        return u * i * min(int(p.get("neighbors") or 50), i)
    if name == "userknn":
        return u * (2 * nnz + u)
    if name == "ease":
        return nnz * i + u * i
    if name == "multvae":
        return u * i * int(p.get("hidden") or 600) + nnz * int(p.get("hidden") or 600)
    if name in ("popularity", "random", "content"):
        return u * i
    return u * i * (1 + int(p.get("factors") or 64) / 8)


def _model_bytes(name: str, p: dict[str, Any], n_users: int, n_items: int, nnz: int) -> tuple[float, str]:
    """(bytes on the training device, what drives the size): the model and its working copies, plus a
    batch of score rows during ranking."""
    f = int(p.get("factors") or 64)
    scoring_batch = min(n_users, int(p.get("batch_size") or 1024))
    score_bytes = 3 * scoring_batch * n_items * 4
    if name in ("popularity", "random"):
        return n_items * 8 + score_bytes, "the catalogue size"
    if name == "itemknn":
        return 2 * n_items * n_items * 4 + score_bytes, "the catalogue size"
    if name == "userknn":
        return 2 * n_users * n_users * 4 + score_bytes, "the number of users"
    if name == "ease":
        if n_users < n_items:  # Woodbury: a users x users kernel, two users x items blocks, the weights
            working = n_users * n_users * 8 + n_users * n_items * 12 + 2 * n_items * n_items * 4
        else:
            working = 3 * n_items * n_items * 4
        return working + score_bytes, "the catalogue size"
    if name == "content":
        return 2 * n_items * n_items * 4 + score_bytes, "the catalogue size"
    if name == "ials":
        return (n_users + n_items) * f * 4 * 3 + f * f * 8 * 64 + score_bytes, "factors"
    if name == "multvae":
        hidden = int(p.get("hidden") or 600)
        latent = int(p.get("factors") or 200)
        weights = (n_items * hidden * 2 + hidden * latent * 2) * 4
        batch = min(n_users, int(p.get("batch_size") or 128))
        return weights * 4 + batch * n_items * 4 * 6 + score_bytes, "the catalogue size"
    return (n_users + n_items) * f * 4 * 4 + score_bytes, "factors"


def _saved_bytes(name: str, p: dict[str, Any], n_users: int, n_items: int, nnz: int) -> float:
    """Bytes of one saved model: its learned arrays and its copy of the interactions."""
    f = int(p.get("factors") or 64)
    learned = {
        "ease": 4.0 * n_items * n_items,
        "itemknn": 12.0 * min(int(p.get("neighbors") or 50), n_items) * n_items,
        "content": 40.0 * n_items,
        "multvae": 8.0 * n_items * int(p.get("hidden") or 600),
    }.get(name, 4.0 * (n_users + n_items) * f if name not in ("popularity", "random", "userknn") else 8.0 * n_items)
    return learned + 12.0 * nnz


def formula_phases(name: str, params: dict[str, Any] | None, n_users: int, n_items: int, nnz: int,
                   kind: str = "cpu") -> tuple[dict[str, float], float | None]:
    """(seconds per phase, seconds per training epoch or None) from this machine's per-model formula,
    before any calibration. ``params`` are the run's settings (defaults filled in by the caller)."""
    from recsys.models import MODELS

    p = dict(params or {})
    speed = _GPU_SPEEDUP if kind == "cuda" else 1.0
    fit_rate = _FIT_RATE.get(name, _DEFAULT_FIT_RATE) / speed
    score_rate = _SCORE_RATE.get(name, _DEFAULT_SCORE_RATE) / speed
    one_pass = score_rate * _score_units(name, p, n_users, n_items, nnz)
    iterative = name in MODELS and MODELS[name].iterative
    share = _TRAIN_SHARE["iterative" if iterative else "one-step"]
    train = fit_rate * _fit_units(name, p, n_users, n_items, share * nnz)
    epochs = _epochs(name, p)
    checks = epochs // max(1, int(p.get("validate_every") or 5)) if iterative else 0
    phases = {
        "loading": _LOAD_SECONDS + nnz * _LOAD_ROW_SECONDS,
        "training": train + checks * one_pass,
        "evaluating": 2 * one_pass + n_users * n_items * _AUC_CELL_SECONDS / speed,
        "refitting": fit_rate * _fit_units(name, p, n_users, n_items, nnz),
        "saving": one_pass + 2 * _saved_bytes(name, p, n_users, n_items, nnz) * _WRITE_BYTE_SECONDS,
    }
    epoch_seconds = (train + checks * one_pass) / epochs if iterative and epochs else None
    return phases, epoch_seconds


def _calibration(store: Store | None, model: str, kind: str) -> tuple[float, float, int]:
    """(time scale, memory scale, runs used): the median ratio of actual to formula over the newest
    finished runs of ``model`` on this kind of device (1, 1, 0 without such runs)."""
    from recsys.models import MODELS

    if store is None or model not in MODELS:
        return 1.0, 1.0, 0
    times, memories = [], []
    for run in store.run_costs(model, limit=4 * _CALIBRATION_RUNS):
        if ("cuda" if str(run["device"] or "cpu").startswith("cuda") else "cpu") != kind:
            continue
        p = {**MODELS[model].default_params(), **(run["params"] or {})}
        if MODELS[model].iterative and run["epochs_done"]:
            p["epochs"] = int(run["epochs_done"])  # stopped early, or cancelled and resumed: what it did
        phases, _ = formula_phases(model, p, run["n_users"], run["n_items"], run["n_interactions"], kind)
        predicted = sum(phases.values())
        if run["seconds"] and predicted > 0 and len(times) < _CALIBRATION_RUNS:
            times.append(float(run["seconds"]) / predicted)
        if run["peak_memory_bytes"] and len(memories) < _CALIBRATION_RUNS:
            memory = _memory(model, p, run["n_users"], run["n_items"], run["n_interactions"], kind)
            memories.append(float(run["peak_memory_bytes"]) / memory)
    return _median_ratio(times), _median_ratio(memories), len(times)


def _median_ratio(ratios: list[float]) -> float:
    """The median of actual-to-formula ratios, kept within [1/20, 20] (1 without any)."""
    return float(min(20.0, max(0.05, statistics.median(ratios)))) if ratios else 1.0


def _host_bytes(n_users: int, n_items: int, nnz: int) -> float:
    """The worker's own memory: the data, its splits and copies, and the Python process with torch."""
    return nnz * _ROW_BYTES + (n_users + n_items) * 64 + _PROCESS_BYTES


def _memory(name: str, p: dict[str, Any], n_users: int, n_items: int, nnz: int, kind: str) -> float:
    device_bytes, _ = _model_bytes(name, p, n_users, n_items, nnz)
    host_bytes = _host_bytes(n_users, n_items, nnz)
    return float(device_bytes + host_bytes) if kind == "cpu" else float(device_bytes)


def estimate(
    source: Any, model: str, params: dict[str, Any] | None = None, device: str = "auto", store: Store | None = None
) -> Estimate:
    """A time and memory estimate for training, evaluating and refitting ``model`` on ``source``.

    ``source`` is ``(store, dataset_id)``, a dataset dict from :meth:`Store.dataset`, an
    :class:`Interactions`, or ``{"n_users", "n_items", "n_interactions"}``. ``device`` is what would be
    requested ("auto", "cpu", "cuda"); the estimate is for the device that would actually be used.

    The time is this machine's per-model formula (:func:`formula_phases`: every phase of a run, the
    serving model's refit included) scaled by how long the newest finished runs of the same model on the
    same kind of device really took against what the formula says for their own data and settings (the
    median ratio of up to five runs; ``store`` defaults to the one in ``source``). The formula scales
    with interactions, users, items, epochs and factors; the history supplies this machine's speed. The
    memory is calibrated the same way from the runs' measured peak memory. ``fits`` is False when it
    needs more memory than the device has free, or would take over a week."""
    from recsys.device import available_memory, pick_device
    from recsys.models import MODELS

    if store is None and isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Store):
        store = source[0]
    n_users, n_items, nnz, _ = _data_stats(source)
    resolved = str(pick_device(device))
    kind = "cuda" if resolved.startswith("cuda") else "cpu"
    p = dict(MODELS[model].default_params()) if model in MODELS else {}
    p.update(params or {})
    phases, epoch_seconds = formula_phases(model, p, n_users, n_items, nnz, kind)
    time_scale, memory_scale, used = _calibration(store, model, kind)
    phases = {name: seconds * time_scale for name, seconds in phases.items()}
    seconds = float(sum(phases.values()))
    epoch_seconds = None if epoch_seconds is None else epoch_seconds * time_scale
    memory = int(_memory(model, p, n_users, n_items, nnz, kind) * memory_scale)
    _, driver = _model_bytes(model, p, n_users, n_items, nnz)
    host_bytes = _host_bytes(n_users, n_items, nnz)
    basis = (f"calibrated on {used} finished {'run' if used == 1 else 'runs'} of this model" if used
             else "this machine's formula for this model (no finished runs to learn from yet)")
    reasons = []
    free = available_memory(resolved)
    if free is not None and memory > free * MEMORY_HEADROOM:
        where = "GPU" if kind == "cuda" else "this machine"
        advice = {
            "factors": "fewer factors",
            "the catalogue size": "a smaller catalogue (drop rarely-seen items)",
            "the number of users": "fewer users (a sample), or an item-based model",
        }[driver]
        cpu = " or the CPU" if kind == "cuda" else ""
        reasons.append(
            f"it needs about {_bytes(memory)} of memory but {where} has {_bytes(free)} free; "
            f"try {advice}{cpu}"
        )
    if kind == "cuda":
        host_free = available_memory("cpu")
        if host_free is not None and host_bytes > host_free * MEMORY_HEADROOM:
            reasons.append(f"loading the data needs about {_bytes(host_bytes)} but only {_bytes(host_free)} is free")
    if seconds > MAX_SECONDS:
        faster = {
            "factors": "fewer epochs or factors",
            "the catalogue size": "a smaller catalogue",
            "the number of users": "fewer users",
        }[driver] + (", or a GPU" if kind == "cpu" else "")
        reasons.append(f"it would take about {_duration(seconds)}; try {faster}")
    return Estimate(seconds=seconds, memory_bytes=memory, fits=not reasons, reason="; ".join(reasons),
                    device=resolved, phases=phases, epoch_seconds=epoch_seconds, basis=basis)


def _bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# -- queueing ------------------------------------------------------------------------------------
def submit(
    store: Store,
    dataset_id: int,
    model: str,
    params: dict[str, Any] | None = None,
    protocol: str | None = None,
    seed: int = 42,
    device: str = "auto",
    k: int = 10,
    engine: str = "local",
    master: str | None = None,
    spark_conf: dict[str, str] | None = None,
    tune: dict[str, Any] | None = None,
) -> int:
    """Queue a training run and return its id. Refuses (``JobRefused``) with the reason when the model or
    a setting is unknown or not allowed (each checked against the model's declared settings, see
    :mod:`recsys.models.settings`), the model needs a catalogue the dataset lacks, the estimate says it
    cannot fit, or the split holds whole people out (``users``) and the model cannot fold a new person
    in. ``protocol=None`` uses the split the dataset's report suggests (else ``random``).
    ``engine="spark"`` trains on Apache Spark at ``master`` with ``spark_conf`` (:mod:`recsys.engines`):
    refused for a model Spark cannot train, when pyspark is not installed, or for a master URL or
    setting Spark cannot read.

    ``tune`` (``{"minutes": M, "trials": N}``, either may be None; ``{}`` for the default budget) makes it
    a tuning run: the model's settings are searched on the validation part first (``params`` are then
    fixed settings, not searched), see :func:`tuning_budget` and :func:`_search_then_train`; it trains on
    this machine (not on Spark)."""
    from recsys.engines import SPARK_MODELS, engine_settings
    from recsys.models import MODELS, ModelError, make_model
    from recsys.models.settings import DEVICE, SEED

    meta = store.dataset(dataset_id)
    params = dict(params or {})
    if model not in MODELS:
        raise JobRefused(f"Unknown model {model!r}. Available: {', '.join(MODELS)}.")
    try:
        device = DEVICE.check(params.pop("device", None) or device or "auto") or "auto"
        seed = SEED.check(seed, "the split")
        instance = make_model(model, **params)
        where = engine_settings(engine, master, spark_conf)
    except ModelError as exc:
        raise JobRefused(str(exc)) from exc
    if where["name"] == "spark":
        from recsys.engines import spark

        if model not in SPARK_MODELS:
            raise JobRefused(f"Only {', '.join(SPARK_MODELS)} trains on Spark: train {model} on this machine (engine local).")
        if not spark.pyspark_installed():
            raise JobRefused("Spark is not installed here: `make spark` installs it (pyspark and Java), or train on this machine.")
    params = {key: value for key, value in instance.get_params().items() if key in params}  # typed
    refusal = model_refusals(store, dataset_id).get(model)
    if refusal:
        raise JobRefused(refusal)
    protocol = protocol or (meta["report"] or {}).get("suggested_split") or "random"
    if protocol == "users" and not instance.supports_fold_in:
        raise JobRefused(
            f"{model} cannot take in a new person's history without retraining, so it cannot be tested on "
            "held-out people: pick another split."
        )
    if tune is not None:
        if where["name"] == "spark":
            raise JobRefused("A tuning run trains on this machine: leave out the Spark engine, or tune first and "
                             "train the chosen settings on Spark.")
        tune = tuning_budget(model, tune, params)
        guess = estimate_tuning(meta, model, tune, params, device, store=store)
    else:
        guess = estimate(meta, model, params, device, store=store)
    if not guess.fits:
        raise JobRefused(f"{model} cannot run on this data: {guess.reason}.")
    if where["name"] == "spark":  # the fits happen on Spark; scoring stays here
        fits = spark.estimate_seconds(meta["n_users"], meta["n_items"], meta["n_interactions"],
                                      instance.get_params(), where["master"])
        guess = replace(guess, seconds=guess.seconds + fits, device="spark")
    epochs_total = int(instance.get_params().get("epochs") or 0) if instance.iterative and tune is None else None
    return store.create_run(
        dataset_id, model, params, protocol, seed, device_requested=device,
        estimate=guess.to_dict(), epochs_total=epochs_total, k=k, engine=where, tune=tune,
    )


def model_refusals(store: Store, dataset_id: int) -> dict[str, str]:
    """The models that cannot train on this dataset, each with one plain sentence saying why and what to
    do (for the Train page's model list and for :func:`submit`):

    - models that predict star ratings (``feedback == "explicit"``, i.e. mf) need a dataset of ratings:
      on plays, clicks or purchases there is no rating to predict (and raw counts in the hundreds of
      thousands make its squared error overflow);
    - models that recommend by the catalogue (``needs_catalog``, i.e. content) need one that describes most
      items with tags, genres or descriptions (:func:`recsys.data.describes_items`); titles alone are not
      enough."""
    from recsys.leaderboard import model_title
    from recsys.models import MODELS

    meta = store.dataset(dataset_id)
    refusals = {name: why for name in MODELS if (why := feedback_refusal(name, bool(meta["explicit"])))}
    needy = [name for name, cls in MODELS.items() if cls.needs_catalog]
    why = _catalog_shortfall(store, dataset_id, meta) if needy else None
    if why:
        refusals.update({name: f"{model_title(name)} {why}" for name in needy})
    return refusals


def feedback_refusal(model: str, explicit: bool) -> str | None:
    """Why ``model`` cannot learn from data whose values are (``explicit``) or are not star ratings."""
    from recsys.leaderboard import model_title
    from recsys.models import MODELS

    if MODELS[model].feedback == "explicit" and not explicit:
        return (f"{model_title(model)} predicts star ratings, and this dataset has none (its values are counts or "
                f"events): pick a model that learns from plays, clicks or purchases, such as {model_title('ials')}, "
                f"{model_title('ease')} or {model_title('itemknn')}.")
    return None


def _catalog_shortfall(store: Store, dataset_id: int, meta: dict[str, Any]) -> str | None:
    """Why this dataset's catalogue cannot feed a content model (None when it can)."""
    from recsys.data import catalog_coverage, describes_items

    if not meta["has_catalog"]:
        return ("needs an item catalogue with tags, genres or descriptions, and this dataset has none: add one on "
                "the Data page, or pick another model.")
    coverage = (meta.get("report") or {}).get("catalog")
    if coverage is None:  # registered without a coverage check: work it out now
        inter, catalog = store.load_dataset(dataset_id)
        coverage = catalog_coverage(catalog, inter)
    if describes_items(coverage):
        return None
    share = float(coverage.get("share_described", 0) or 0)
    return (f"needs a catalogue that describes most items with tags, genres or descriptions; this one describes "
            f"{share:.0%} of them (names or titles alone do not count): add a catalogue with a genres or tags "
            "column, or pick another model.")


# -- tuning runs ---------------------------------------------------------------------------------
MAX_TUNING_MINUTES = 24 * 60.0
MAX_TUNING_TRIALS = 10_000


def tuning_budget(model: str, budget: dict[str, Any], fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """A tuning run's budget checked: ``{"minutes": float | None, "trials": int | None}``, the default
    (:data:`recsys.tuning.DEFAULT_MINUTES`) when neither is given. ``JobRefused`` with one line when a
    figure is out of range or ``model`` has nothing left to search once ``fixed`` settings are set."""
    from recsys import tuning

    if not tuning.search_space(model, fixed):
        raise JobRefused(f"{model} has no setting to tune{' left' if fixed else ''}: train it without tuning.")
    minutes, trials = (budget or {}).get("minutes"), (budget or {}).get("trials")
    try:
        minutes = None if minutes is None else float(minutes)
        trials = None if trials is None else int(trials)
    except (TypeError, ValueError) as exc:
        raise JobRefused("The tuning budget must be a number of minutes and/or of trials.") from exc
    if minutes is not None and not 0 < minutes <= MAX_TUNING_MINUTES:
        raise JobRefused(f"The tuning time must be more than 0 and at most {MAX_TUNING_MINUTES:g} minutes, "
                         f"not {minutes:g}.")
    if trials is not None and not 1 <= trials <= MAX_TUNING_TRIALS:
        raise JobRefused(f"The number of trials must be from 1 to {MAX_TUNING_TRIALS:,}, not {trials}.")
    if minutes is None and trials is None:
        minutes = tuning.DEFAULT_MINUTES
    return {"minutes": minutes, "trials": trials}


def estimate_tuning(source: Any, model: str, budget: dict[str, Any], params: dict[str, Any] | None = None,
                    device: str = "auto", store: Store | None = None) -> Estimate:
    """The estimate of a tuning run: the search (phase ``tuning``: its minutes; for a budget in trials
    only, that many fits at the largest settings searched and the most epochs) plus one run with the
    defaults (training the chosen settings, evaluating, the serving refit, saving); the memory of the
    largest settings searched."""
    from recsys import tuning

    params = dict(params or {})
    largest = {d.name: (int(d.high) if d.kind == "int" else d.high) for d in tuning.search_space(model, params)
               if d.name in ("factors", "hidden", "neighbors")}
    top = tuning.max_epochs(model)
    worst = estimate(source, model, {**params, **largest, **({"epochs": top} if top else {})}, device, store=store)
    single = estimate(source, model, params, device, store=store)
    search = 60.0 * budget["minutes"] if budget.get("minutes") else float("inf")
    if budget.get("trials"):
        search = min(search, budget["trials"] * worst.seconds)
    phases = dict(single.phases)
    phases = {"loading": phases.pop("loading", 0.0), "tuning": search, **phases}
    return Estimate(seconds=search + single.seconds, memory_bytes=max(worst.memory_bytes, single.memory_bytes),
                    fits=worst.fits and single.fits, reason=worst.reason or single.reason, device=worst.device,
                    phases=phases, epoch_seconds=single.epoch_seconds, basis=single.basis)


def cancel(store: Store, run_id: int) -> str:
    """Cancel a run (queued: at once; running: within one epoch). Returns its status now."""
    return store.request_cancel(run_id)


def _number(value: Any) -> float | None:
    """A float, or None for missing values (None, NaN, pandas NA): rows of a DataFrame hold NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


PHASES = ("loading", "splitting", "tuning", "training", "evaluating", "refitting", "saving")  # the worker's order
_LATER = {"evaluating", "refitting", "saving"}
_PHASE_FRACTION = {"loading": 0.02, "splitting": 0.04, "training": 0.05, "evaluating": 0.9, "refitting": 0.93,
                   "saving": 0.97}
_SHORTEST_ETA = 2.0  # below this the page says "finishing" rather than counting seconds


def progress(run: dict[str, Any]) -> dict[str, Any]:
    """How far a run is: ``fraction`` done (0..1), ``eta_seconds`` (None when not known honestly) and
    ``late`` (True when it has run past its estimate). ``run`` is a dict from :meth:`Store.run` or a row of
    :meth:`Store.list_runs` (a dict or a pandas Series).

    While an iterative model trains, the time left comes from its own measured epochs: the seconds per
    epoch so far times the epochs left, plus the phases still to come (evaluating, the serving refit,
    saving) scaled by how the measured epochs compare with the estimate's. Otherwise it is the estimate
    (so scaled) less the time elapsed. When that is under two seconds, or the run is past its estimate,
    or in a phase without an estimate, ``eta_seconds`` is None: nothing sits at "1 s left"."""
    status = run.get("status")
    estimate = run.get("estimate") or {}
    estimate_seconds = _number(estimate.get("seconds"))
    if status == "done":
        return {"fraction": 1.0, "eta_seconds": 0.0, "late": False}
    if status == "queued":
        return {"fraction": 0.0, "eta_seconds": estimate_seconds, "late": False}
    done, total = int(_number(run.get("epochs_done")) or 0), int(_number(run.get("epochs_total")) or 0)
    if status != "running":
        return {"fraction": min(1.0, done / total) if total else 0.0, "eta_seconds": None, "late": False}
    phase = str(run.get("phase") or "")
    elapsed = _number(run.get("duration_seconds")) or 0.0
    if phase == "tuning":
        return _tuning_progress(run, elapsed, estimate_seconds)
    phases = {str(k): float(v) for k, v in (estimate.get("phases") or {}).items() if _number(v) is not None}
    estimated_epoch = _number(estimate.get("epoch_seconds"))
    measured_epoch = (_number(run.get("epoch_seconds")) or 0.0) / done if done else None
    scale = measured_epoch / estimated_epoch if measured_epoch and estimated_epoch else 1.0
    later = scale * sum(seconds for name, seconds in phases.items() if name in _LATER)
    eta: float | None = None
    if phase == "training" and total and measured_epoch is not None:
        eta = measured_epoch * max(0, total - done) + later
    elif estimate_seconds:
        eta = scale * (sum(phases.values()) if phases else estimate_seconds) - elapsed
    late = eta is not None and eta <= 0
    if eta is not None and eta < _SHORTEST_ETA:
        eta = None
    if eta is not None:
        fraction = elapsed / (elapsed + eta) if elapsed + eta > 0 else 0.0
    elif phase == "training" and total:
        fraction = 0.05 + 0.85 * min(1.0, done / total)
    else:
        fraction = _PHASE_FRACTION.get(phase, 0.95 if late else 0.05)
    return {"fraction": float(min(0.99, max(0.0, fraction))), "eta_seconds": eta, "late": bool(late)}


def _tuning_progress(run: dict[str, Any], elapsed: float, estimate_seconds: float | None) -> dict[str, float | None]:
    """Progress of a tuning run while it searches: the share of its budget spent (time, or trials when
    the budget is in trials only); the search is 80% of the whole."""
    budget = run.get("tune") or {}
    minutes, trials = _number(budget.get("minutes")), _number(budget.get("trials"))
    done_trials = int(_number(run.get("trials_done")) or 0)
    shares = []
    if minutes:
        shares.append(elapsed / (60.0 * minutes))
    if trials:
        shares.append(done_trials / trials)
    share = min(1.0, max(shares)) if shares else 0.0
    after = max(0.0, (estimate_seconds or 0.0) - 60.0 * (minutes or 0.0)) if minutes else None
    left = None
    if minutes:
        left = max(0.0, 60.0 * minutes - elapsed) + (after or 0.0)
    elif trials and done_trials:
        left = elapsed / done_trials * max(0.0, trials - done_trials)
    return {"fraction": 0.05 + 0.8 * share, "eta_seconds": None if left is None else max(1.0, left), "late": False}


# -- liveness ------------------------------------------------------------------------------------
_HOST = socket.gethostname()
_children: list[subprocess.Popen] = []


def _pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and is not a zombie (a killed child nobody reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _worker_problem(worker: dict[str, Any], now: float) -> str | None:
    """Why this worker row is dead, or None while it lives."""
    age = now - float(worker["heartbeat_at"])
    if worker["host"] == _HOST:
        if not _pid_alive(int(worker["pid"])):
            return f"the worker process (pid {worker['pid']}) stopped: it was killed, crashed or ran out of memory"
        limit = STARTING_GRACE_SECONDS if worker["state"] == "starting" else STALE_SECONDS_LOCAL
    else:
        limit = STARTING_GRACE_SECONDS if worker["state"] == "starting" else STALE_SECONDS
    if age > limit:
        return f"the worker stopped responding (no heartbeat for {age:.0f} s; the machine may have restarted)"
    return None


def reap_stale(store: Store) -> list[int]:
    """Mark runs whose worker died as ``interrupted`` (with the reason) and forget dead workers.
    Returns the ids of the runs marked."""
    now = time.time()
    return store.reap_dead_workers(lambda worker: _worker_problem(worker, now))


def _reap_children() -> None:
    """Collect exit codes of workers this process started (so none lingers as a zombie)."""
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)


def worker_state(store: Store) -> dict[str, Any]:
    """What the dashboard shows about the background worker: ``alive, pid, device, heartbeat_age,
    run_id, queued`` (+ ``workers``: every live worker). Marks runs of dead workers ``interrupted``."""
    _reap_children()
    try:
        reap_stale(store)
    except StoreError as exc:  # a full or read-only store can still say what it holds
        log.warning("could not mark runs of dead workers: %s", exc)
    now = time.time()
    workers = store.workers()
    queued = store.queued_count()
    live = [
        {"id": w["id"], "pid": w["pid"], "host": w["host"], "device": w["device"], "state": w["state"],
         "run_id": w["run_id"], "heartbeat_age": now - w["heartbeat_at"]}
        for w in workers
    ]
    busy = [w for w in live if w["run_id"] is not None]
    main = busy[0] if busy else (live[0] if live else None)
    return {
        "alive": bool(live),
        "pid": main["pid"] if main else None,
        "device": main["device"] if main else None,
        "heartbeat_age": main["heartbeat_age"] if main else None,
        "run_id": main["run_id"] if main else None,
        "queued": queued,
        "workers": live,
    }


def ensure_worker(store: Store) -> bool:
    """Start ``python -m recsys worker`` in the background when runs are queued and no worker is alive.
    Returns True when it started one. Safe to call on every page load, from several sessions at once."""
    _reap_children()
    reap_stale(store)
    started: list[subprocess.Popen] = []

    def spawn() -> int:
        with open(store.log_path("worker.log"), "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "recsys", "worker"],
                env=_worker_env(store), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=os.getcwd(),
            )
        started.append(proc)
        return proc.pid

    if not store.start_worker_if_none(_HOST, spawn):
        return False
    _children.extend(started)
    return True


def _worker_env(store: Store) -> dict[str, str]:
    """This environment plus ``TASTEMAKER_HOME`` and, on ``PYTHONPATH``, the folder holding ``recsys``
    (so ``python -m recsys`` works from any working directory without installing the package)."""
    root = str(Path(__file__).resolve().parents[1])
    paths = [root, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]]
    return dict(os.environ, TASTEMAKER_HOME=str(store.home), PYTHONPATH=os.pathsep.join(paths))


# -- the worker ----------------------------------------------------------------------------------
class _Stopped(Exception):
    """The worker was asked to stop (SIGTERM/SIGINT) while training."""


class _WorkerSession:
    """This process's row in ``workers`` and the thread that keeps its heartbeat fresh."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.id = f"{_HOST}:{os.getpid()}"
        self._stop = threading.Event()
        store.register_worker(self.id, os.getpid(), _HOST)
        self._thread = threading.Thread(target=self._beat, name="tastemaker-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.store.heartbeat(self.id)
            except Exception:  # a busy database must not kill the heartbeat; the next beat retries
                log.warning("heartbeat failed", exc_info=True)

    def set(self, **fields: Any) -> None:
        self.store.heartbeat(self.id, **fields)

    def retire(self, check_queue: bool = True) -> bool:
        """Remove this worker's row unless work it could take (queued, on a device not busy) arrived
        meanwhile. True when retired."""
        return self.store.retire_worker(self.id, _device_key if check_queue else None)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.store.retire_worker(self.id)


def _device_key(requested: str | None) -> str:
    """The name a run's device is booked under (``cuda`` and ``cuda:0`` are one card)."""
    from recsys.device import device_key

    return device_key(requested or "auto")


def claim_next(store: Store, worker_id: str) -> int | None:
    """Atomically take the oldest queued run whose device is free (one run at a time per device):
    mark it ``running`` by this worker and return its id; None when there is nothing to take."""
    return store.claim_next_run(worker_id, _device_key)


def run_worker(store: Store, once: bool = False, idle_exit: float = IDLE_EXIT_SECONDS) -> int:
    """Train queued runs one at a time until the queue is empty (``once``) or nothing has arrived for
    ``idle_exit`` seconds. Returns how many runs it processed. A failing run never stops the worker."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(process)d: %(message)s")
    session = _WorkerSession(store)
    restore = _install_stop_handlers()
    processed = 0
    idle_since = time.monotonic()
    try:
        _sweep(store)
        while True:
            try:
                reap_stale(store)
                run_id = claim_next(store, session.id)
            except StoreFault as exc:  # e.g. the disk is full: wait for space instead of dying
                log.warning("%s", exc)
                time.sleep(POLL_SECONDS)
                if once:
                    break
                continue
            if run_id is None:
                if once or time.monotonic() - idle_since > idle_exit:
                    if session.retire(check_queue=not once):
                        break
                time.sleep(POLL_SECONDS)
                continue
            log.info("run %s started", run_id)
            try:
                execute_run(store, run_id, session.id)
            except StoreError as exc:  # e.g. the failure itself could not be recorded: keep living
                log.warning("run %s: %s", run_id, exc)
                if isinstance(exc, StoreFault):
                    _fail_when_possible(store, run_id, session.id, str(exc))
            finally:
                with contextlib.suppress(Exception):
                    session.set(run_id=None, state="idle")
            log.info("run %s finished: %s", run_id, _status_or_gone(store, run_id))
            processed += 1
            idle_since = time.monotonic()
    except _Stopped:
        log.info("stopped by a signal")
    finally:
        restore()
        session.close()
    return processed


def _sweep(store: Store) -> None:
    """Tidy the data folder at start (best effort: a full or read-only disk must not stop the worker)."""
    try:
        sweep = store.sweep_orphans()
    except StoreError as exc:
        log.warning("could not tidy the data folder: %s", exc)
        return
    for path in sweep.quarantined:
        log.warning("moved an unexplained folder to %s (see quarantine/log.txt)", path)
    if sweep.rebuildable:
        log.warning("%d folder(s) have no row in the database (%s): run `python -m recsys doctor --repair` "
                    "to bring them back", len(sweep.rebuildable), ", ".join(sweep.rebuildable[:5]))


def _fail_when_possible(store: Store, run_id: int, worker_id: str, message: str, tries: int = 5) -> None:
    """Mark the run failed, retrying a few times (space may come back); its files are removed first."""
    for attempt in range(tries):
        try:
            _finish(store, run_id, worker_id, "failed", _one_line(message))
            return
        except StoreError:
            time.sleep(min(5.0, 0.5 * 2**attempt))
    log.error("run %s could not be marked failed; once this worker stops, the next one marks it interrupted", run_id)


def _status_or_gone(store: Store, run_id: int) -> str:
    try:
        return store.run(run_id)["status"]
    except StoreError:
        return "deleted"


def _install_stop_handlers():
    """SIGTERM/SIGINT raise ``_Stopped`` in the main thread so the current run is marked interrupted."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise _Stopped(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    return lambda: [signal.signal(sig, h) for sig, h in old.items()]


def _finish(store: Store, run_id: int, worker_id: str, status: str, error: str | None = None, **extra: Any) -> bool:
    """Set a final status, only if this worker still owns the run (it may have been deleted, or marked
    interrupted by someone who thought this worker dead)."""
    return store.finish_run(run_id, worker_id, status, error, **extra)


def _still_mine(store: Store, run_id: int, worker_id: str) -> tuple[bool, bool]:
    """(still running by this worker, cancel requested)."""
    return store.run_ownership(run_id, worker_id)


def execute_run(store: Store, run_id: int, worker_id: str) -> str:
    """Train, evaluate and save one claimed run; return its final status. Every failure is recorded on
    the run (a one-line message; the traceback goes to ``logs/run-<id>.log``) and never raised, except
    a stop signal, which marks the run interrupted and is re-raised."""
    run = store.run(run_id)
    stage = {"name": "loading"}
    _reset_peak_memory(str(run.get("device") or "cpu"))
    try:
        status = _train_and_save(store, run, worker_id, stage)
    except _Stopped as exc:
        _finish(store, run_id, worker_id, "interrupted",
                f"Interrupted while {stage['name']}: the worker was stopped ({exc}). Submit it again to retry.")
        _remove_partial(store, run_id)
        raise
    except BaseException as exc:  # noqa: BLE001 - every error becomes the run's message
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        message = _failure_message(exc, run, stage["name"])
        _write_traceback(store, run_id, exc)
        _finish(store, run_id, worker_id, "failed", message)
        _remove_partial(store, run_id)
        _release_gpu_memory()
        return "failed"
    if status == "done":  # what it really used calibrates the next estimates
        peak = _peak_memory(str(run.get("device") or "cpu"))
        if peak:
            with contextlib.suppress(OSError, StoreError):
                store.save_run_usage(run_id, {"peak_memory_bytes": peak})
    return status


def _reset_peak_memory(device: str) -> None:
    """Start measuring this process's peak memory afresh (Linux: resident set; CUDA: allocations)."""
    if device.startswith("cuda"):
        import torch

        with contextlib.suppress(RuntimeError):
            torch.cuda.reset_peak_memory_stats()
        return
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # resets VmHWM, the peak resident set size


def _peak_memory(device: str) -> int | None:
    """Peak memory since :func:`_reset_peak_memory`, in bytes (None where it cannot be read)."""
    if device.startswith("cuda"):
        import torch

        try:
            return int(torch.cuda.max_memory_allocated())
        except RuntimeError:
            return None
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_model(run: dict[str, Any]):
    """The untrained model of a run: its settings, the device it was given, and the run's seed as the
    model's ``seed`` when it has one and the settings do not name one (so the same run twice gives the
    same scores)."""
    from recsys.models import make_model

    params = dict(run["params"])
    model = make_model(run["model"], **params)
    if "device" in model.param_names():
        model.set_params(device=run["device"])
    if "seed" in model.param_names() and "seed" not in params:
        model.set_params(seed=int(run["seed"]))
    return model


def refit_epochs(evaluated) -> int | None:
    """The epoch count a serving refit of the evaluated model runs (see
    :func:`recsys.training.chosen_epochs`); None for a model that is not iterative."""
    from recsys.training import chosen_epochs

    if not evaluated.iterative:
        return None
    return max(1, chosen_epochs(evaluated.history_, getattr(evaluated, "patience", None)))


def serving_model(run: dict[str, Any], inter: Interactions, catalog, epochs: int | None = None, on_epoch=None,
                  fit=None):
    """The run's serving model: the same settings refitted on every interaction in ``inter``, without
    validation; an iterative model runs ``epochs`` epochs (:func:`refit_epochs` of the evaluated one).
    ``fit`` is the run's engine's fit function (:func:`recsys.engines.fitter`; None: the model's own)."""
    model = run_model(run)
    if epochs is not None:
        model.set_params(epochs=int(epochs))
    return (fit or type(model).fit)(model, inter, on_epoch, catalog=catalog)


def _train_and_save(store: Store, run: dict[str, Any], worker_id: str, stage: dict[str, str]) -> str:
    from recsys.engines import fitter
    from recsys.evaluation import evaluate, fit_on_split
    from recsys.split import make_split, nothing_to_test
    from recsys.training import TrainingStopped

    run_id = int(run["id"])

    def phase(name: str) -> None:
        stage["name"] = name
        store.update_run(run_id, phase=name)

    phase("loading")
    inter, catalog = store.load_dataset(run["dataset_id"])
    phase("splitting")
    split = make_split(inter, run["protocol"], seed=int(run["seed"]))
    if len(split.test) == 0:  # say so now, not after training for minutes
        raise DataError(nothing_to_test(split))
    model = run_model(run)
    if not run["is_baseline"] and run["model"] != "popularity":
        _ensure_baseline(store, run, split, catalog, worker_id, inter)
    if run.get("tune"):
        return _search_then_train(store, run, worker_id, phase, inter, split, catalog)
    if model.iterative:
        store.update_run(run_id, epochs_total=int(model.get_params().get("epochs") or 0))
    cancelled = {"value": False}

    def check_cancel() -> bool:
        mine, cancel_requested = _still_mine(store, run_id, worker_id)
        cancelled["value"] = cancel_requested or not mine
        return cancelled["value"]

    def on_epoch(record: dict[str, Any]) -> bool:
        store.add_epoch(run_id, record)
        return check_cancel()

    total = run["epochs_total"] or model.get_params().get("epochs")

    def was_cancelled() -> str:
        done = len(store.epochs(run_id))
        _finish(store, run_id, worker_id, "cancelled", f"Cancelled after epoch {done} of {total}.")
        _remove_partial(store, run_id)
        return "cancelled"

    fit = fitter(run["engine"], should_stop=check_cancel)  # None: on this machine
    phase("training")
    try:
        fit_on_split(model, split, on_epoch, catalog=catalog, fit=fit)  # validated on split.validation, never the test
    except TrainingStopped:  # an engine that cannot hand back a model mid-way (Spark) was stopped
        return was_cancelled()
    if cancelled["value"]:
        return was_cancelled()
    where = {**run["engine"], **getattr(model, "engine_", {})}  # what the engine recorded about the fit
    if where:
        store.update_run(run_id, engine=where)
    phase("evaluating")
    evaluation = evaluate(model, split, k=int(run["k"]), catalog=catalog)
    store.save_run_results(run_id, model, evaluation)
    epochs = refit_epochs(model)
    del model, evaluation  # the refit may need the memory
    phase("refitting")
    try:
        serving = serving_model(run, inter, catalog, epochs, on_epoch=lambda record: check_cancel(), fit=fit)
    except TrainingStopped:
        return was_cancelled()
    if cancelled["value"] or check_cancel():
        return was_cancelled()
    if hasattr(serving, "engine_"):
        store.update_run(run_id, engine={**where, "serving_fit_seconds": serving.engine_.get("fit_seconds")})
    phase("saving")
    store.save_serving_model(run_id, serving, inter)
    _save_exposure(store, run_id, inter, catalog, int(run["k"]))
    if not _finish(store, run_id, worker_id, "done"):
        _remove_partial(store, run_id)  # deleted or taken away meanwhile: keep no orphan files
        return _status_or_gone(store, run_id)
    return "done"


def _search_then_train(store: Store, run: dict[str, Any], worker_id: str, phase, inter: Interactions, split,
                       catalog) -> str:
    """A tuning run after the split: search the settings on the validation part only (each trial
    stored as it ends), store the best settings as the run's ``params`` and what the search found in
    its ``tune``; refit them on the whole training part (fit-train and validation), score the test part
    once, then refit them on every interaction as the run's serving model, and save both.

    Cancel stops the search within one epoch (one trial for a one-step model); the run is then ``cancelled`` with every finished trial
    kept and the best settings so far named in its message (nothing is refitted or scored: a cancel
    means stop using the machine). A worker killed meanwhile leaves it ``interrupted`` with its trials."""
    from recsys import tuning
    from recsys.evaluation import evaluate

    run_id = int(run["id"])
    budget = dict(run["tune"])
    fixed = {**run["params"], **({"device": run["device"]} if "device" in _param_names(run["model"]) else {})}
    cancelled = {"value": False}

    def should_stop() -> bool:
        mine, cancel_requested = _still_mine(store, run_id, worker_id)
        cancelled["value"] = cancel_requested or not mine
        return cancelled["value"]

    phase("tuning")
    fit_train, validation, validation_input = tuning.search_parts(split, seed=int(run["seed"]))  # never the test
    result = tuning.tune(
        run["model"], fit_train, validation, trials=budget.get("trials"), minutes=budget.get("minutes"),
        fixed=fixed, seed=int(run["seed"]), catalog=catalog, validation_input=validation_input,
        on_trial=lambda trial: store.add_trial(run_id, trial.to_dict()), should_stop=should_stop,
    )
    found = {**budget, **tuning.summary(result), "validation_rows": len(validation), "fit_train_rows": len(fit_train)}
    if result.ended_by == "cancelled":
        store.update_run(run_id, tune=found)
        best = ("" if result.best_trial < 0 else f"; the best so far: {tuning.settings_in_words(run['model'], result.best_params)} "
                f"(validation NDCG@10 {result.best_value:.4f})")
        _finish(store, run_id, worker_id, "cancelled",
                f"Cancelled while tuning, after {len(result.trials)} trial(s){best}.")
        _remove_partial(store, run_id)
        return "cancelled"
    params = tuning.refit_params(result)
    stored = {k: v for k, v in params.items() if k != "device"}
    run = {**run, "params": stored}
    model = run_model(run)
    store.update_run(run_id, params=stored, tune=found,
                     epochs_total=int(params["epochs"]) if model.iterative else None)

    def on_epoch(record: dict[str, Any]) -> bool:
        store.add_epoch(run_id, record)
        return should_stop()

    def was_cancelled() -> str:
        _finish(store, run_id, worker_id, "cancelled",
                f"Cancelled while training the tuned settings, after {len(result.trials)} trial(s).")
        _remove_partial(store, run_id)
        return "cancelled"

    phase("training")
    model.fit(split.train, on_epoch, catalog=catalog)  # fit-train and validation: the whole training part
    if cancelled["value"]:
        return was_cancelled()
    phase("evaluating")
    evaluation = evaluate(model, split, k=int(run["k"]), catalog=catalog)
    store.save_run_results(run_id, model, evaluation)
    epochs = int(params["epochs"]) if model.iterative else None
    del model, evaluation
    phase("refitting")
    serving = serving_model(run, inter, catalog, epochs, on_epoch=lambda record: should_stop())
    if cancelled["value"] or should_stop():
        return was_cancelled()
    phase("saving")
    store.save_serving_model(run_id, serving, inter)
    _save_exposure(store, run_id, inter, catalog, int(run["k"]))
    if not _finish(store, run_id, worker_id, "done"):
        _remove_partial(store, run_id)
        return _status_or_gone(store, run_id)
    return "done"


def _param_names(model: str) -> list[str]:
    from recsys.models import MODELS

    return MODELS[model].param_names()


def _ensure_baseline(store: Store, run: dict[str, Any], split, catalog, worker_id: str, inter: Interactions) -> None:
    """Train and store the Popularity baseline for this dataset and split once, as its own run (an
    evaluated and a serving model, like any run), so the leaderboard can always show it. A failure here
    is logged and does not affect the main run."""
    from recsys.evaluation import evaluate, fit_on_split

    baseline_id = store.start_baseline_run(run, worker_id)
    if baseline_id is None:
        return
    try:
        baseline = {**run, "id": baseline_id, "model": "popularity", "params": {}}
        model = fit_on_split(run_model(baseline), split, catalog=catalog)
        evaluation = evaluate(model, split, k=int(run["k"]), catalog=catalog)
        store.save_run_results(baseline_id, model, evaluation)
        store.save_serving_model(baseline_id, serving_model(baseline, inter, catalog), inter)
        _save_exposure(store, baseline_id, inter, catalog, int(run["k"]))
        _finish(store, baseline_id, worker_id, "done")
    except Exception as exc:  # noqa: BLE001
        _write_traceback(store, baseline_id, exc)
        _finish(store, baseline_id, worker_id, "failed", _failure_message(exc, run, "training the baseline"))
        _remove_partial(store, baseline_id)


def _save_exposure(store: Store, run_id: int, inter: Interactions, catalog, k: int) -> None:
    """Store who the run's lists expose (:func:`recsys.exposure.list_exposure`) beside them. Derived
    figures: a failure is logged and the run still finishes (pages compute them again when missing)."""
    from recsys.exposure import list_exposure

    try:
        store.save_run_exposure(run_id, list_exposure(store.run_recommendations(run_id, staged=True), inter, catalog, k))
    except StoreFault:
        raise
    except Exception as exc:  # noqa: BLE001
        _write_traceback(store, run_id, exc)
        log.warning("run %s: exposure figures not stored (%s)", run_id, exc)


def _failure_message(exc: BaseException, run: dict[str, Any], stage: str) -> str:
    """One plain line: what went wrong and, where we know, what to change."""
    import torch

    from recsys.models import ModelError

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        factors = (run.get("params") or {}).get("factors")
        now = f" (now {factors})" if factors else ""
        return (f"Ran out of GPU memory while {stage}. Try fewer factors{now}, a smaller catalogue "
                "(drop rarely-seen items), or run it on the CPU.")
    if isinstance(exc, MemoryError):
        return (f"Ran out of memory while {stage}. Try fewer factors, a smaller catalogue "
                "(drop rarely-seen items), or a machine with more memory.")
    if isinstance(exc, (DataError, ModelError, StoreError)):
        return _one_line(str(exc))
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return _one_line(f"Failed while {stage}: {detail}") + f" (details in logs/run-{run.get('id')}.log)"


def _one_line(text: str, limit: int = 600) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _write_traceback(store: Store, run_id: int, exc: BaseException) -> None:
    with contextlib.suppress(OSError), open(store.log_path(f"run-{int(run_id)}.log"), "a") as fh:
        fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} run {run_id}\n")
        fh.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def _remove_partial(store: Store, run_id: int) -> None:
    with contextlib.suppress(OSError):
        store.discard_run_files(run_id, staging_of_other_processes=False)


def _release_gpu_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()

