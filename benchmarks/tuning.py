"""Tuned against default settings on the demo protocol: what automatic tuning gains, model by model.

Protocol (issue 14's): MovieLens ml-latest-small, per-user random 20% test (:func:`recsys.split.random_split`,
seed 42), full-catalogue ranking with each user's training items excluded, NDCG@10 averaged over all test
users (every held-out rating counts, as in ``benchmarks.quality``). For each model:

* **default**: the model with its defaults (seed 42) fitted on the training part, scored on test;
* **tuned**: :func:`recsys.tuning.tune` searches on the validation part of the training part only
  (:func:`recsys.tuning.search_parts`: the split's own validation part, 10% of each person's training
  rows, every rating counting as on test), for ``--minutes`` per model; the best settings are refitted on the whole
  training part (:func:`recsys.tuning.refit_params`) and scored on test once, exactly as a tuning run in
  the worker does.

    python -m benchmarks.tuning                                   # bpr, ials, ease, itemknn, 4 min each
    python -m benchmarks.tuning --models bpr --minutes 3 --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from benchmarks.machine import machine_info, machine_markdown, markdown_table, publish
from recsys import metrics, tuning
from recsys.data import load_demo
from recsys.models import make_model
from recsys.models.base import Recommender
from recsys.split import Split, random_split

DEFAULT_MODELS = ("bpr", "ials", "ease", "itemknn")


def test_ndcg(model: Recommender, split: Split, k: int = 10) -> float:
    """Mean NDCG@k over every test user (training items excluded from ranking)."""
    users = split.test_users
    recs, _ = model.recommend(users, k=k)
    return float(np.mean(metrics.ndcg(recs, split.test.to_csr(use_values=False)[users], k)))


def compare(name: str, split: Split, catalog, minutes: float | None, trials: int | None, seed: int = 42) -> dict[str, Any]:
    """Default and tuned test NDCG@10 of one model, with what the search did."""
    default = make_model(name)
    if "seed" in default.param_names():
        default.set_params(seed=seed)
    started = time.perf_counter()
    default.fit(split.train, catalog=catalog)
    default_fit = time.perf_counter() - started
    default_ndcg = test_ndcg(default, split)
    del default

    # every held-out rating counts on validation, as on test (the demo protocol)
    fit_train, validation, validation_input = tuning.search_parts(split, seed=seed, relevance=None)
    load_before = os.getloadavg()[0]
    result = tuning.tune(name, fit_train, validation, minutes=minutes, trials=trials, seed=seed, catalog=catalog,
                         validation_input=validation_input)
    params = tuning.refit_params(result)
    tuned = make_model(name, **params)
    started = time.perf_counter()
    tuned.fit(split.train, catalog=catalog)
    refit = time.perf_counter() - started
    return {
        "model": name,
        "default_ndcg@10": default_ndcg,
        "tuned_ndcg@10": test_ndcg(tuned, split),
        "default_validation": result.default_value,
        "best_validation": result.best_value,
        "settings": tuning.settings_in_words(name, result.best_params),
        "params": {k: v for k, v in params.items() if k != "seed"},
        "trials": len(result.trials),
        "counts": result.counts(),
        "search_minutes": result.seconds / 60,
        "ended_by": result.ended_by,
        "default_fit_seconds": default_fit,
        "refit_seconds": refit,
        "validation_rows": len(validation),
        "fit_train_rows": len(fit_train),
        "load_average": [load_before, os.getloadavg()[0]],
        "trial_records": [t.to_dict() for t in result.trials],
    }


def report_markdown(results: dict[str, Any]) -> str:
    rows = []
    for r in results["models"]:
        c = r["counts"]
        rows.append([
            r["model"], r["default_ndcg@10"], r["tuned_ndcg@10"], r["tuned_ndcg@10"] - r["default_ndcg@10"],
            r["settings"], f"{r['trials']} ({c['complete']}/{c['pruned']}/{c['failed']})", r["search_minutes"],
            f"{r['load_average'][0]:.1f}-{r['load_average'][1]:.1f}",
        ])
    table = markdown_table(
        ["model", "default NDCG@10", "tuned NDCG@10", "gain", "tuned settings",
         "trials (complete/pruned/failed)", "search min", "load avg"], rows)
    split = results["split"]
    head = (f"Demo, random 20% per user (seed {results['seed']}): {split['train_rows']:,} train / "
            f"{split['test_rows']:,} test interactions, {split['test_users']} test users. Search on "
            f"{results['models'][0]['fit_train_rows']:,} fit-train / {results['models'][0]['validation_rows']:,} "
            f"validation interactions; budget {results['budget']}.")
    return "\n\n".join([head, table, machine_markdown(results["machine"])])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--minutes", type=float, default=4.0, help="search budget per model")
    parser.add_argument("--trials", type=int, default=None, help="trial budget per model")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    inter, catalog = load_demo()
    split = random_split(inter, test_fraction=0.2, seed=args.seed)
    results: dict[str, Any] = {
        "seed": args.seed, "machine": machine_info(),
        "budget": " and ".join(p for p in (f"{args.minutes:g} min" if args.minutes else "",
                                           f"{args.trials} trials" if args.trials else "") if p),
        "split": {"train_rows": len(split.train), "test_rows": len(split.test),
                  "test_users": int(len(split.test_users))},
        "models": [],
    }
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        results["models"].append(compare(name, split, catalog, args.minutes, args.trials, args.seed))
        r = results["models"][-1]
        print(f"{name}: default {r['default_ndcg@10']:.4f}, tuned {r['tuned_ndcg@10']:.4f} ({r['settings']}; "
              f"{r['trials']} trials in {r['search_minutes']:.1f} min)", flush=True)
    publish(report_markdown(results), results, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
