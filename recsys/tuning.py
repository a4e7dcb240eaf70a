"""Tuning: each model's settings chosen automatically on validation data, within a budget.

Definitions.

* The **search space** of a model is read from its settings declarations (:mod:`recsys.models.settings`):
  every ``int`` or ``float`` setting with a ``tune`` range is searched over that range, on a log scale
  when the declaration says ``log`` (integers stay integers). Settings given by the caller are fixed and
  not searched. ``epochs`` is not searched: the top of its tuning range is the most passes a trial may
  run, a trial stops once validation stops improving, and the epoch count kept is the epoch of the
  trial's best validation score (so a tuned iterative model never trains past its best).
* A **trial** fits the model with one choice of settings on the *fit-train* part and scores it on the
  *validation* part only (NDCG@10 over every validation user, training items excluded from ranking). Its
  score is its best validation NDCG@10; its state is ``complete``, ``pruned`` (stopped early as hopeless,
  or stopped by the time budget) or ``failed`` (the settings made training blow up). The **best trial**
  has the highest score among those with one (a trial the time budget stopped counts with the best
  epoch it reached; one the pruner stopped is below a completed one by construction).
* **Optuna** drives the search: a seeded TPE sampler proposes settings; the first trial is always the
  model's own defaults (so tuning can only gain over them on validation); iterative models report each
  validation to a median pruner, which stops a trial whose best score so far is below the median of the
  earlier completed trials at the same epoch (after the first quarter of the epochs, and once five trials
  have completed: a median of fewer is too noisy a bar).
* The **budget** is a number of trials, a number of minutes, or both (whichever ends first); the
  default is :data:`DEFAULT_MINUTES` minutes. A trial running when the time is up is stopped (pruned),
  unless it leads (no trial has a score yet, or its best so far beats them all): it then runs to its own
  end, so the search overruns by at most one trial and the chosen trial's epoch count is its real best.
  ``should_stop`` (a cancel) stops the search within one epoch (one trial for a one-step model).

The test part never enters this module: callers pass fit-train and validation only.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from recsys.data import Catalog, DataError, Interactions
from recsys.models import MODELS, ModelError, Recommender, make_model
from recsys.models.settings import Setting
from recsys.training import validation_ndcg

DEFAULT_MINUTES = 5.0
VALIDATION_FRACTION = 0.2  # share of each person's rows validated on when tuning a whole file (the CLI)
METRIC = "ndcg@10"
PATIENCE = 5  # validations in a row without improvement that end a trial (a quarter of its epochs)
VALIDATIONS_PER_TRIAL = 20  # about this many validations over a trial's most epochs
STARTUP_TRIALS = 5  # random proposals before TPE models the results
PRUNE_AFTER_TRIALS = 5  # trials that must complete before the pruner may stop one
STATES = ("complete", "pruned", "failed")
FIXED_FOR_TRIALS = ("validate_every", "patience")  # set by the search itself, never searched


class TuningError(ModelError):
    """Tuning cannot run or found nothing (no setting to search, every trial failed); the message says
    why and what to change."""


# -- the search space ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Dimension:
    """One searched setting: ``low``..``high`` (inclusive) on a linear or ``log`` scale."""

    name: str
    kind: str  # "int" or "float"
    low: float
    high: float
    log: bool
    label: str

    def suggest(self, trial) -> int | float:
        """A value proposed by an Optuna trial."""
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def distribution(self):
        """The Optuna distribution of this dimension (to rebuild a study from stored trials)."""
        import optuna

        if self.kind == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(float(self.low), float(self.high), log=self.log)

    def clip(self, value: Any) -> int | float:
        """``value`` moved inside the range (a default outside the searched range)."""
        inside = min(max(float(value), float(self.low)), float(self.high))
        return int(round(inside)) if self.kind == "int" else inside

    def describe(self) -> str:
        """``"Learning rate: 0.005 to 0.5, log scale"``."""
        scale = ", log scale" if self.log else ""
        kind = " (whole numbers)" if self.kind == "int" else ""
        return f"{self.label}: {_number(self.low)} to {_number(self.high)}{kind}{scale}"


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def model_class(model: str | type[Recommender]) -> type[Recommender]:
    """The registered class of ``model`` (a name or a class)."""
    if isinstance(model, str):
        if model not in MODELS:
            raise TuningError(f"Unknown model {model!r}. Available: {', '.join(MODELS)}.")
        return MODELS[model]
    return model


def search_space(model: str | type[Recommender], fixed: dict[str, Any] | None = None) -> list[Dimension]:
    """The searched settings of ``model``, in declaration order: every number setting with a tuning
    range, except ``epochs`` (chosen by validation, see the module docstring) and those in ``fixed``."""
    cls = model_class(model)
    fixed = fixed or {}
    return [
        Dimension(s.name, s.kind, float(s.tune[0]), float(s.tune[1]), bool(s.log), s.label)
        for s in cls.settings
        if s.tune is not None and s.kind in ("int", "float") and s.name != "epochs" and s.name not in fixed
    ]


def tunable(model: str | type[Recommender]) -> bool:
    """True when ``model`` has at least one setting to search."""
    return bool(search_space(model))


def max_epochs(model: str | type[Recommender]) -> int | None:
    """The most epochs a trial of an iterative ``model`` runs (the top of its ``epochs`` tuning range,
    else its default); None for a one-shot model."""
    cls = model_class(model)
    if not cls.iterative:
        return None
    epochs: Setting = cls.setting("epochs")
    return int(epochs.tune[1]) if epochs.tune else int(epochs.default)


def min_epochs(model: str | type[Recommender]) -> int:
    """The fewest epochs a tuned iterative ``model`` is refitted with (the bottom of its tuning range)."""
    epochs: Setting = model_class(model).setting("epochs")
    return int(epochs.tune[0]) if epochs.tune else 1


def describe_space(model: str | type[Recommender]) -> list[str]:
    """Each searched setting in words, plus how the epoch count is chosen for an iterative model."""
    lines = [d.describe() for d in search_space(model)]
    top = max_epochs(model)
    if top is not None:
        lines.append(f"Training passes: up to {top:,} per trial; the pass with the best validation score is kept")
    return lines


# -- results -------------------------------------------------------------------------------------
@dataclass
class Trial:
    """One trial: its number (0 is the defaults), the settings it tried (for an iterative model,
    ``epochs`` is its best validation epoch), its best validation NDCG@10 (None when failed or pruned
    before any validation), its state, seconds taken, the validations per epoch
    (``[{"epoch", "validation", "loss"}]``), and a note (why it was pruned or failed)."""

    number: int
    params: dict[str, Any]
    value: float | None
    state: str
    seconds: float
    epochs: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Trial:
        keys = {"number", "params", "value", "state", "seconds", "epochs", "note"}
        return cls(**{k: v for k, v in record.items() if k in keys})


@dataclass
class TuningResult:
    """What a search found: every trial, the best one's settings (``best_params``: the fixed settings,
    the searched ones and, for an iterative model, its chosen ``epochs``) and validation score, the
    space searched, the budget, how long it took, and why it ended (``"trials"``, ``"time"``,
    ``"cancelled"``)."""

    model: str
    trials: list[Trial]
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    space: list[Dimension]
    budget: dict[str, Any]
    seconds: float
    ended_by: str
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def default_value(self) -> float | None:
        """The validation score of the defaults (trial 0), when it completed."""
        first = next((t for t in self.trials if t.number == 0), None)
        return first.value if first is not None and first.state == "complete" else None

    def counts(self) -> dict[str, int]:
        return {state: sum(t.state == state for t in self.trials) for state in STATES}

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON values (``tuning.json``)."""
        return {
            "model": self.model, "metric": METRIC, "best_params": self.best_params, "best_value": self.best_value,
            "best_trial": self.best_trial, "default_value": self.default_value, "fixed": self.fixed,
            "space": [asdict(d) for d in self.space], "budget": self.budget, "seconds": self.seconds,
            "ended_by": self.ended_by, "counts": self.counts(), "trials": [t.to_dict() for t in self.trials],
        }


# -- the search ----------------------------------------------------------------------------------
class _Cancelled(Exception):
    """``should_stop`` said stop (raised inside a trial, caught by :func:`tune`)."""


def tune(
    model: str,
    train: Interactions,
    validation: Interactions,
    *,
    trials: int | None = None,
    minutes: float | None = None,
    fixed: dict[str, Any] | None = None,
    seed: int = 42,
    catalog: Catalog | None = None,
    validation_input: Interactions | None = None,
    space: list[Dimension] | None = None,
    first: list[dict[str, Any]] | None = None,
    on_trial: Callable[[Trial], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TuningResult:
    """Search ``model``'s settings: each trial fits on ``train`` (fit-train) and is scored on
    ``validation`` only. ``trials`` and ``minutes`` bound the search (default :data:`DEFAULT_MINUTES`
    minutes); ``fixed`` settings are kept as given and not searched; ``seed`` seeds the sampler (and the
    model, unless ``fixed`` names its seed). ``validation_input`` is the given history of validation people
    held out of ``train`` (the ``"users"`` split), folded in when they are scored.

    ``space`` replaces the declared search space; ``first`` lists settings to try right after the
    defaults (trial 0). ``on_trial`` receives each trial as it ends (to store it); ``should_stop`` is
    polled every epoch and between trials, and stops the search when it returns True (the result then
    says ``ended_by="cancelled"``). Raises :class:`TuningError` when there is nothing to search or no
    trial completed."""
    import optuna

    cls = model_class(model)
    fixed = cls.check_params(dict(fixed or {}))
    if "seed" in cls.param_names() and "seed" not in fixed:
        fixed["seed"] = int(seed)
    space = list(space) if space is not None else search_space(cls, fixed)
    if not space:
        raise TuningError(f"{cls.name} has no setting to tune: train it with its defaults instead.")
    for dimension in space:  # a range given by the caller must hold allowed values only
        cls.check_params({dimension.name: dimension.low})
        cls.check_params({dimension.name: dimension.high})
    if cls.needs_catalog and catalog is None:
        raise TuningError(f"{cls.name} needs an item catalogue (titles, genres or tags): add one first.")
    if not len(validation):
        raise DataError("There is nothing to validate on: the data is too small to hold out part of each "
                        "person's history. Add more interactions, or train with the defaults.")
    trials = None if trials is None else max(1, int(trials))
    if minutes is None and trials is None:
        minutes = DEFAULT_MINUTES
    budget = {"trials": trials, "minutes": None if minutes is None else float(minutes)}
    started = time.monotonic()
    deadline = None if minutes is None else started + 60.0 * float(minutes)
    top = max_epochs(cls)
    validate_every = max(1, round(top / VALIDATIONS_PER_TRIAL)) if top else 0
    score_validation = _validation_scorer(validation, validation_input)

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is a result, not a warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=int(seed), n_startup_trials=STARTUP_TRIALS),
            pruner=optuna.pruners.MedianPruner(
                n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=max(0, (top or 0) // 4)
            ),
        )
    defaults = cls.default_params()
    study.enqueue_trial({d.name: d.clip(defaults[d.name]) for d in space if defaults.get(d.name) is not None})
    for params in first or []:
        study.enqueue_trial({d.name: d.clip(params[d.name]) for d in space if d.name in params})

    done: list[Trial] = []
    state = {"ended_by": None}

    def stop_requested() -> bool:
        return bool(should_stop and should_stop())

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() > deadline

    def leading(curve: list[dict[str, Any]]) -> bool:
        """Whether a running trial may outlive the time budget: when no trial has a score yet, or its own
        best validation so far beats every finished trial's (it will be chosen: let it find its epoch)."""
        scores = [t.value for t in done if t.state != "failed" and t.value is not None]
        if not scores:
            return True
        return bool(curve) and max(p["validation"] for p in curve) > max(scores)

    def objective(trial) -> float:
        settings = {d.name: d.suggest(trial) for d in space}
        params = {**fixed, **settings}
        if top:
            params.update(epochs=top, validate_every=validate_every, patience=PATIENCE)
        begun = time.monotonic()
        curve: list[dict[str, Any]] = []
        why = {"pruned": ""}
        shown = {**settings}

        def on_epoch(record: dict[str, Any]) -> bool:
            value = record.get("validation")
            if value is not None:
                curve.append({"epoch": int(record["epoch"]), "validation": float(value),
                              "loss": _finite(record.get("loss"))})
                trial.report(float(value), int(record["epoch"]))
                if trial.should_prune():
                    why["pruned"] = "below the median of earlier trials at the same epoch"
                    return True
            if stop_requested():
                raise _Cancelled
            if out_of_time() and not leading(curve):
                why["pruned"] = "stopped when the time budget ran out"
                return True
            return False

        def record(state: str, value: float | None, note: str = "") -> Trial:
            return Trial(trial.number, shown, value, state, time.monotonic() - begun, curve, note)

        try:
            fitted = make_model(cls.name, **params)
            fitted.fit(train, on_epoch, validation=validation if top else None,
                       validation_input=validation_input if top else None, catalog=catalog)
        except ModelError as exc:
            done.append(record("failed", None, " ".join(str(exc).split())))
            raise
        if top:
            best = max(curve, key=lambda point: point["validation"], default=None)
            if best is not None:
                shown["epochs"] = max(min_epochs(cls), next(p["epoch"] for p in curve
                                                            if p["validation"] >= best["validation"] - 1e-6))
            value = None if best is None else best["validation"]
        else:
            value = score_validation(fitted)
        if why["pruned"] or value is None:
            done.append(record("pruned", value, why["pruned"] or "stopped before its first validation"))
            raise optuna.TrialPruned(why["pruned"])
        done.append(record("complete", float(value)))
        return float(value)

    def after_trial(study_, frozen) -> None:
        if done and done[-1].number == frozen.number and on_trial is not None:
            on_trial(done[-1])
        if stop_requested():
            state["ended_by"] = "cancelled"
            study_.stop()
        elif out_of_time():
            state["ended_by"] = "time"
            study_.stop()

    try:
        study.optimize(objective, n_trials=trials, callbacks=[after_trial], catch=(ModelError,),
                       gc_after_trial=False)
    except _Cancelled:
        state["ended_by"] = "cancelled"
    ended_by = state["ended_by"] or ("trials" if trials is not None else "time")
    # a pruned trial's score is the best validation it reached (at its kept epoch): one the median
    # pruner stopped is below a completed trial, one the time budget stopped may be the best
    scored = [t for t in done if t.state != "failed" and t.value is not None]
    if not scored:
        if ended_by == "cancelled":
            best = None
        else:
            failed = next((t.note for t in done if t.state == "failed"), "")
            raise TuningError(f"No trial of {cls.name} finished" + (f": {failed}" if failed else ".") +
                              " Try a larger budget or other fixed settings.")
    else:
        best = max(scored, key=lambda t: (t.value, -t.number))
    best_params = {**{k: v for k, v in fixed.items()}, **(best.params if best else {})}
    return TuningResult(
        model=cls.name, trials=done, best_params=best_params,
        best_value=float(best.value) if best else float("nan"), best_trial=best.number if best else -1,
        space=space, budget=budget, seconds=time.monotonic() - started, ended_by=ended_by, fixed=fixed,
    )


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _validation_scorer(validation: Interactions, validation_input: Interactions | None) -> Callable[[Recommender], float]:
    """Validation NDCG@10 of a fitted one-shot model (the same measure the epoch loop uses)."""
    return lambda model: validation_ndcg(model, validation, history=validation_input)()


def validation_split(inter: Interactions, seed: int = 42, fraction: float = VALIDATION_FRACTION):
    """(fit-train, validation) of a whole file: a random ``fraction`` of each person's rows held out
    (seeded), as :func:`recsys.split.random_split` carves it (cold users and items dropped)."""
    from recsys.split import random_split

    carved = random_split(inter, test_fraction=fraction, seed=seed)
    return carved.train, carved.test


def search_parts(split, seed: int = 42, relevance: float | str | None = "auto"
                 ) -> tuple[Interactions, Interactions, Interactions | None]:
    """(fit-train, validation, validation people's given history or None) of a split: its own parts
    (:class:`recsys.split.Split`), with the validation rows that count as relevant as the run's
    evaluation counts them (``relevance="auto"``: star ratings at or above the threshold; None: every
    row; a number: ratings at or above it), exactly what a plain run is validated on; for a hand-made
    split without a validation part, a random :data:`VALIDATION_FRACTION` of each person's training rows
    carved out here (seeded). Never the test part."""
    from recsys.evaluation import relevance_threshold_of, relevant_part

    if len(split.validation):
        threshold = relevance_threshold_of(split) if relevance == "auto" else relevance
        return split.fit_train, relevant_part(split.validation, threshold), split.validation_input
    fit_train, validation = validation_split(split.train, seed=seed)
    return fit_train, validation, None


def summary(result: TuningResult) -> dict[str, Any]:
    """What a search found, in a few plain values (stored on a tuning run as its ``tune``): the best
    and the defaults' validation scores, the best trial, how the search ended, trial counts, seconds,
    the names searched, the fixed settings and the chosen ones in plain words (``settings_words``, so
    pages show them without loading the models)."""
    return {
        "metric": METRIC, "best_value": _finite(result.best_value), "default_value": result.default_value,
        "best_trial": result.best_trial, "ended_by": result.ended_by, "counts": result.counts(),
        "seconds": round(result.seconds, 3), "searched": [d.name for d in result.space],
        "fixed": {k: v for k, v in result.fixed.items() if k != "device"},
        "settings_words": settings_in_words(result.model, result.best_params) if result.best_trial >= 0 else "",
    }


def refit_params(result: TuningResult) -> dict[str, Any]:
    """The settings a tuned model is refitted with: the best trial's, without early stopping (its
    ``epochs`` is already the best epoch)."""
    params = dict(result.best_params)
    cls = model_class(result.model)
    if cls.iterative:
        params.setdefault("epochs", max_epochs(cls))
        params["patience"] = None
    return params


def setting_importances(model: str, trials: list[Trial] | list[dict[str, Any]], seed: int = 0) -> dict[str, float]:
    """How much each searched setting mattered to the validation score, as shares summing to 1 (Optuna's
    fANOVA over the completed trials); empty with fewer than 3 completed trials or nothing varied."""
    import optuna

    records = [t if isinstance(t, Trial) else Trial.from_dict(t) for t in trials]
    space = search_space(model)
    complete = [t for t in records if t.state == "complete" and t.value is not None]
    names = [d.name for d in space if len({t.params.get(d.name) for t in complete}) > 1]
    if len(complete) < 3 or not names:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    distributions = {d.name: d.distribution() for d in space if d.name in names}
    for t in complete:
        if all(name in t.params for name in names):
            study.add_trial(optuna.trial.create_trial(
                params={name: _inside(distributions[name], t.params[name]) for name in names},
                distributions=distributions, value=float(t.value)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("optuna").setLevel(logging.WARNING)
        try:
            importances = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
        except (RuntimeError, ValueError):
            return {}
    return {name: float(value) for name, value in importances.items()}


def _inside(distribution, value: Any) -> Any:
    """``value`` as the distribution's type, inside its range (stored values were rounded to JSON)."""
    low, high = distribution.low, distribution.high
    inside = min(max(float(value), low), high)
    return int(round(inside)) if isinstance(low, int) and isinstance(high, int) else inside


def settings_in_words(model: str, params: dict[str, Any]) -> str:
    """``"Taste dimensions 128, Learning rate 0.031, Training passes 35"``: the tuned settings with
    their plain labels, in declaration order (searched settings and ``epochs``)."""
    cls = model_class(model)
    shown = [d.name for d in search_space(cls)] + (["epochs"] if cls.iterative else [])
    parts = []
    for setting in cls.settings:
        if setting.name in shown and params.get(setting.name) is not None:
            value = params[setting.name]
            text = f"{int(value):,}" if setting.kind == "int" else _short(float(value))
            parts.append(f"{setting.label} {text}")
    return ", ".join(parts)


def _short(value: float) -> str:
    """Three significant figures: ``0.0312``, ``12.3``, ``2,150``."""
    if value == 0 or not np.isfinite(value):
        return f"{value:g}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
