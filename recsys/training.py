"""The one epoch loop every iterative model trains through.

A model supplies only "run one epoch" (returning its mean training loss); this loop times each epoch,
reports ``{epoch, epochs, loss, seconds, validation, ...}`` to ``on_epoch``, evaluates a validation
metric every few epochs, stops early when the metric stops improving, stops cleanly when the caller
asks (``on_epoch`` returning ``True``, which is how the worker honours a cancel), and stops with
:class:`TrainingDiverged` when the loss turns NaN or infinite.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

EpochCallback = Callable[[dict[str, Any]], "bool | None"]


class TrainingDiverged(ArithmeticError):
    """The training loss of ``epoch`` (counted from 1) became NaN or infinite: ``what`` says which."""

    def __init__(self, epoch: int, loss: float) -> None:
        self.epoch = epoch
        self.what = "NaN" if math.isnan(loss) else "infinite"
        super().__init__(f"the loss became {self.what} at epoch {epoch}")


class TrainingStopped(Exception):
    """Training was stopped on request (``on_epoch`` returning True) by an engine that, unlike
    :func:`run_epochs`, cannot hand back a usable model part-way (Spark returns factors only at the
    end); the caller treats it as a cancel."""


def run_epochs(
    epochs: int,
    run_one_epoch: Callable[[int], float | dict[str, float]],
    on_epoch: EpochCallback | None = None,
    validate: Callable[[], float] | None = None,
    validate_every: int = 5,
    patience: int | None = None,
    metric_name: str = "ndcg@10",
) -> list[dict[str, Any]]:
    """Run up to ``epochs`` epochs and return the per-epoch history.

    ``run_one_epoch(epoch)`` trains one pass (epoch counts from 0) and returns the mean loss, or a dict
    with ``loss`` and any extra figures (e.g. ``rmse``). ``validate()`` returns a number where higher is
    better; it runs every ``validate_every`` epochs and after the last one. With ``patience`` set,
    training stops once that many validations in a row brought no improvement. ``on_epoch`` receives each
    epoch's record; returning ``True`` stops after that epoch (the model stays usable). A loss that is NaN
    or infinite raises :class:`TrainingDiverged` before that epoch is reported.
    """
    history: list[dict[str, Any]] = []
    best = -math.inf
    since_best = 0
    for epoch in range(epochs):
        started = time.perf_counter()
        out = run_one_epoch(epoch)
        record: dict[str, Any] = dict(out) if isinstance(out, dict) else {"loss": out}
        record["loss"] = float(record.get("loss", float("nan")))
        if not math.isfinite(record["loss"]):
            raise TrainingDiverged(epoch + 1, record["loss"])
        record["seconds"] = time.perf_counter() - started
        record["epoch"] = epoch + 1
        record["epochs"] = epochs
        record["validation"] = None
        record["metric"] = metric_name
        last = epoch == epochs - 1
        if validate is not None and validate_every > 0 and ((epoch + 1) % validate_every == 0 or last):
            value = float(validate())
            record["validation"] = value
            if value > best + 1e-6:
                best, since_best = value, 0
            else:
                since_best += 1
        history.append(record)
        stop = bool(on_epoch(record)) if on_epoch is not None else False
        if stop or (patience is not None and since_best >= patience):
            record["stopped_early"] = True
            break
    return history


def validation_ndcg(model, validation, k: int = 10, history=None) -> Callable[[], float]:
    """A ``validate`` function for :func:`run_epochs`: mean NDCG@k of ``model`` on the validation
    interactions (users without validation items are skipped; ranking excludes training items). With
    ``history`` (Interactions of people held out of training), each validation person is scored by
    fold-in of their rows there, and those items are excluded instead."""
    from recsys import metrics  # metrics imports nothing from training: no cycle

    users = np.unique(validation.users)
    truth = validation.to_csr(use_values=False)[users]
    given = None if history is None else history.to_csr(use_values=True)[users]

    def _validate() -> float:
        if given is None:
            recs, _ = model.recommend(users, k=k)
        else:
            recs, _ = model.recommend_for_histories(given, k=k)
        return float(np.mean(metrics.ndcg(recs, truth, k)))

    return _validate


def chosen_epochs(history: list[dict[str, Any]], patience: int | None) -> int:
    """How many epochs a refit of the same settings should run: with early stopping (``patience`` set)
    and at least one validation, the epoch of the best validation score (the first to reach it, by the
    same rule as :func:`run_epochs`); otherwise the number of epochs that ran."""
    best, best_epoch = -math.inf, None
    for record in history:
        value = record.get("validation")
        if value is not None and float(value) > best + 1e-6:
            best, best_epoch = float(value), int(record["epoch"])
    if patience is not None and best_epoch is not None:
        return best_epoch
    return len(history)
