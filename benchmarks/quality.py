"""Quality of every Tastemaker model next to implicit's ALS and BPR, on the demo data's protocol.

Protocol (the model issue's): MovieLens ml-latest-small, per-user random 20% holdout
(:func:`recsys.split.random_split`, seed 42), full-catalogue ranking with each user's training items
excluded, metrics averaged over all test users (:func:`recsys.evaluation.evaluate`). implicit's models
are wrapped as :class:`~recsys.models.base.Recommender` subclasses holding implicit's factors, so they
are ranked and scored by exactly the same code as ours. implicit gets our defaults translated to its
conventions (:func:`implicit_params`).

Reported per model: NDCG@10, Recall@10, catalogue coverage of the top-10 lists, fit seconds, and the
seconds for a top-10 list for every user (the issue's target: under 1 s on the demo). With ``--curves``
also NDCG@10 after every epoch for ials/bpr and implicit's ALS/BPR (same settings), to compare
convergence; the time spent scoring between epochs is not counted in fit seconds.

    python -m benchmarks.quality                  # every model + implicit where it imports
    python -m benchmarks.quality --curves         # plus per-epoch NDCG@10 curves
    python -m benchmarks.quality --models popularity,ease --no-implicit
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

from benchmarks.machine import cpu_caption, machine_info, machine_markdown, markdown_table, publish
from recsys import metrics
from recsys.data import Catalog, Interactions, load_demo, load_interactions
from recsys.evaluation import evaluate
from recsys.models import MODELS, make_model
from recsys.models.base import Recommender
from recsys.split import Split, random_split

IMPLICIT_MODELS = {"implicit-als": "ials", "implicit-bpr": "bpr"}  # reference -> our counterpart
# our models with other settings, reported beside the defaults: implicit's CPU BPR draws each negative as
# the item of a random interaction (popularity-weighted), ours uniformly unless told; this row compares
# the two libraries' convergence with the same sampling
VARIANTS = {"bpr-popularity": ("bpr", {"negative_sampling": "popularity"})}


def implicit_available() -> bool:
    """Whether implicit imports in this interpreter."""
    try:
        import implicit  # noqa: F401
    except ImportError:
        return False
    return True


def implicit_params(ours: Recommender, threads: int | None = None) -> dict[str, Any]:
    """implicit settings equivalent to our model's: same factors, epochs, regularisation (and learning
    rate and negative checking for BPR). For ALS our confidence is ``1 + alpha * r`` while implicit's is ``alpha * r``, so
    with binary ``r`` implicit gets ``alpha + 1``; our ``binary`` setting decides what ``r`` is."""
    params: dict[str, Any] = {"num_threads": threads or os.cpu_count() or 1}
    names = ours.param_names()
    for ours_name, their_name in (("factors", "factors"), ("epochs", "iterations"),
                                  ("regularization", "regularization"), ("learning_rate", "learning_rate"),
                                  ("seed", "random_state"), ("verify_negatives", "verify_negative_samples")):
        if ours_name in names:
            params[their_name] = getattr(ours, ours_name)
    if ours.name == "ials":
        alpha = float(getattr(ours, "alpha", 1.0))
        params["alpha"] = alpha + 1.0 if getattr(ours, "binary", True) else alpha
        params.pop("learning_rate", None)
        params.pop("verify_negative_samples", None)
    return params


class _ImplicitReference(Recommender):
    """implicit's CPU model trained by implicit, scored by our shared top-k code (factors as tensors)."""

    iterative = False
    supports_fold_in = False

    def __init__(self, params: dict | None = None, binary: bool = True, on_iteration=None) -> None:
        self.params = params
        self.binary = binary
        self.on_iteration = on_iteration

    def _build(self, params: dict[str, Any]):
        raise NotImplementedError

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        from threadpoolctl import threadpool_limits

        user_items = train.to_csr(use_values=not self.binary)
        model = self._build(dict(self.params or {}))
        self.callback_seconds_ = 0.0

        def callback(iteration: int, elapsed: float, *progress: Any) -> None:  # ALS: loss; BPR: correct, skipped
            if self.on_iteration is not None:
                started = time.perf_counter()
                self._take_factors(model)
                self.on_iteration(iteration + 1)
                self.callback_seconds_ += time.perf_counter() - started

        with threadpool_limits(1, "blas"):  # implicit's advice for its CPU models
            model.fit(user_items, show_progress=False, callback=callback)
        self._take_factors(model)

    def _take_factors(self, model) -> None:
        self.user_factors_ = torch.as_tensor(np.array(model.user_factors, dtype=np.float32))
        self.item_factors_ = torch.as_tensor(np.array(model.item_factors, dtype=np.float32))

    def _score_users(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_factors_[users] @ self.item_factors_.T


class ImplicitALSReference(_ImplicitReference):
    name = "implicit-als"
    description = "implicit's AlternatingLeastSquares (conjugate gradient), for reference."

    def _build(self, params: dict[str, Any]):
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(use_cg=True, calculate_training_loss=False, **params)


class ImplicitBPRReference(_ImplicitReference):
    name = "implicit-bpr"
    description = "implicit's BayesianPersonalizedRanking, for reference."

    def _build(self, params: dict[str, Any]):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(**params)


def _test_ndcg(model: Recommender, split: Split, users: np.ndarray, k: int = 10) -> float:
    recs, _ = model.recommend(users, k=k)
    truth = split.test.to_csr(use_values=False)[users]
    return float(np.mean(metrics.ndcg(recs, truth, k)))


def _make(name: str, overrides: dict[str, dict[str, Any]], seed: int, threads: int | None):
    """Our model or an implicit reference, with ``overrides[name]`` applied (and our seed)."""
    if name in IMPLICIT_MODELS:
        ours = make_model(IMPLICIT_MODELS[name], **overrides.get(IMPLICIT_MODELS[name], {}))
        params = {**implicit_params(ours, threads), **overrides.get(name, {})}
        cls = ImplicitALSReference if name == "implicit-als" else ImplicitBPRReference
        return cls(params=params, binary=bool(getattr(ours, "binary", True)))
    base, settings = VARIANTS.get(name, (name, {}))
    model = make_model(base, **{**settings, **overrides.get(name, {})})
    if "seed" in model.param_names() and "seed" not in overrides.get(name, {}):
        model.seed = seed
    return model


def run_model(
    name: str, split: Split, catalog: Catalog | None, overrides: dict[str, dict[str, Any]],
    curves: bool = False, seed: int = 42, threads: int | None = None, recommend_repeats: int = 3,
) -> dict[str, Any]:
    """Fit one model on ``split.train`` and evaluate it; with ``curves`` also NDCG@10 per epoch."""
    model = _make(name, overrides, seed, threads)
    test_users = split.test_users
    curve: list[float] = []
    scoring = [0.0]

    def score_now(_: Any = None) -> None:
        started = time.perf_counter()
        curve.append(_test_ndcg(model, split, test_users))
        scoring[0] += time.perf_counter() - started

    compared = {*IMPLICIT_MODELS, *IMPLICIT_MODELS.values(), *VARIANTS}
    want_curve = curves and name in compared
    on_epoch = score_now if want_curve and model.iterative else None
    if want_curve and isinstance(model, _ImplicitReference):
        model.on_iteration = score_now
    started = time.perf_counter()
    model.fit(split.train, on_epoch, catalog=catalog)
    fit_seconds = time.perf_counter() - started - scoring[0]
    result = evaluate(model, split, k=10, catalog=catalog, metrics=["ndcg", "recall", "coverage"],
                      relevance_threshold=None)  # every held-out rating relevant, as _test_ndcg and implicit
    all_users = np.arange(split.train.n_users)
    timings = []
    for _ in range(recommend_repeats):
        t0 = time.perf_counter()
        model.recommend(all_users, k=10)
        timings.append(time.perf_counter() - t0)
    return {
        "model": name,
        "ndcg@10": result.summary["ndcg"],
        "recall@10": result.summary["recall"],
        "coverage": result.summary["coverage"],
        "fit_seconds": fit_seconds,
        "top10_all_users_seconds": statistics.median(timings),
        "test_users": int(len(test_users)),
        "params": {k: v for k, v in (model.get_params() if name not in IMPLICIT_MODELS else model.params).items()
                   if k not in ("on_iteration",)},
        "curve": curve,
    }


def report_markdown(results: dict[str, Any]) -> str:
    rows = [[r["model"], r.get("ndcg@10"), r.get("recall@10"), r.get("coverage"), r.get("fit_seconds"),
             r.get("top10_all_users_seconds"), r.get("error", "")] for r in results["models"]]
    parts = ["### Machine", "", machine_markdown(results["machine"]), "",
             f"Command: `{results['command']}`", "",
             f"Data: {results['data']}; split: {results['split']}", "", cpu_caption(results["machine"]), "",
             markdown_table(["model", "NDCG@10", "Recall@10", "coverage", "fit s", "top-10 all users s", "note"],
                            rows), ""]
    with_curves = [r for r in results["models"] if r.get("curve")]
    if with_curves:
        longest = max(len(r["curve"]) for r in with_curves)
        curve_rows = [[epoch + 1] + [r["curve"][epoch] if epoch < len(r["curve"]) else None for r in with_curves]
                      for epoch in range(longest)]
        parts += ["### NDCG@10 on the test split after each epoch", "",
                  markdown_table(["epoch"] + [r["model"] for r in with_curves], curve_rows), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Every model on the demo-data protocol, next to implicit.")
    parser.add_argument("--models", help="comma separated (default: every model, then implicit's two)")
    parser.add_argument("--no-implicit", action="store_true", help="leave implicit's models out")
    parser.add_argument("--data", help="an interactions file instead of the demo (no catalogue then)")
    parser.add_argument("--sample-users", type=int, help="keep only this many random users (quick runs)")
    parser.add_argument("--params", help='JSON: model name -> settings, e.g. {"ials": {"epochs": 5}}')
    parser.add_argument("--curves", action="store_true", help="NDCG@10 after every epoch for ials/bpr/implicit")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", help="also write all results here")
    parser.add_argument("--markdown", help="also write the Markdown report here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.data:
        inter, catalog, data_name = load_interactions(args.data), None, args.data
    else:
        inter, catalog = load_demo()
        data_name = "MovieLens ml-latest-small (bundled demo)"
    if args.sample_users:
        rng = np.random.default_rng(args.seed)
        keep = rng.choice(inter.n_users, size=min(args.sample_users, inter.n_users), replace=False)
        inter = inter.subset(np.isin(inter.users, keep))
        data_name += f", {len(keep)} random users"
    split = random_split(inter, test_fraction=0.2, seed=args.seed)
    names = args.models.split(",") if args.models else list(MODELS)
    have_implicit = implicit_available()
    if not args.models:
        names += list(VARIANTS)
    if not args.models and not args.no_implicit:
        names += list(IMPLICIT_MODELS)
    if args.no_implicit or not have_implicit:
        if not have_implicit and any(n in IMPLICIT_MODELS for n in names):
            print("implicit does not import here: its models are left out.", file=sys.stderr)
        names = [n for n in names if n not in IMPLICIT_MODELS]
    overrides = json.loads(args.params) if args.params else {}
    command = "python -m benchmarks.quality " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine_info()
    results: dict[str, Any] = {
        "machine": info, "command": command.strip(), "data": data_name,
        "split": f"random 20% per user, seed {args.seed}; {len(split.train):,} train / {len(split.test):,} test "
                 f"interactions, {len(split.test_users):,} test users",
        "models": [],
    }
    for name in names:
        try:
            row = run_model(name, split, catalog, overrides, curves=args.curves, seed=args.seed,
                            threads=args.threads)
        except Exception as exc:  # noqa: BLE001 - one failing model must not hide the others' results
            row = {"model": name, "error": f"{type(exc).__name__}: {exc}"[:200]}
        results["models"].append(row)
        print(f"[{name}] {json.dumps({k: v for k, v in row.items() if k not in ('curve', 'params')})}",
              file=sys.stderr)
    text = report_markdown(results)
    publish(text, results, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
