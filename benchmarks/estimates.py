"""How good are the run estimates (``recsys.jobs.estimate``) on this machine?

Two commands, on the demo (MovieLens latest-small, 100k ratings) and on a 100k-row synthetic play-count
log (``benchmarks.synthetic.listening_log``), for every registered model with its default settings:

* ``measure``: times the parts a run is made of, in this process (fit on the training split, one ranking
  pass over every user, the evaluation), the fastest of ``--repeats``, and prints each model's seconds
  per unit of work (``recsys.jobs._fit_units`` / ``_score_units``): the constants of the formula.
* ``check``: trains each model through the real worker (``jobs.submit`` then ``jobs.run_worker``, as the
  dashboard does) in a fresh store, twice: the first estimate comes from the formula alone, the second
  is calibrated on the first run. Prints model, data, estimated s, actual s and their ratio.

    python -m benchmarks.estimates check [--models ease,ials] [--data demo,plays100k]

Timings depend on what else the machine is doing: run it when it is otherwise idle.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DATASETS = ("demo", "plays100k")


def _files(name: str) -> tuple[bytes, bytes | None, str]:
    """(interactions file, catalogue file or None, file name) of a benchmark dataset."""
    if name == "demo":
        from recsys.data import DEMO_DIR

        return (DEMO_DIR / "ratings.csv").read_bytes(), (DEMO_DIR / "movies.csv").read_bytes(), "ratings.csv"
    from benchmarks.synthetic import listening_log

    plays, artists = listening_log()
    out, cat = io.StringIO(), io.StringIO()
    plays.to_csv(out, sep="\t", index=False)
    artists.to_csv(cat, sep="\t", index=False)
    return out.getvalue().encode(), cat.getvalue().encode(), "user_artists.dat"


def _store_with(name: str, home: Path):
    from recsys.store import Store

    store = Store(home)
    plays, items, label = _files(name)
    return store, store.add_dataset(plays, name=name, items=items, source_name=label)


def measure(models: list[str], datasets: list[str], repeats: int) -> list[dict]:
    from recsys import jobs
    from recsys.evaluation import evaluate
    from recsys.models import MODELS, make_model
    from recsys.split import make_split

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in datasets:
            store, dataset = _store_with(data, Path(tmp) / data)
            inter, catalog = store.load_dataset(dataset)
            split = make_split(inter, "random", seed=42)
            everyone = np.arange(inter.n_users)
            for name in models:
                if name in jobs.model_refusals(store, dataset):
                    continue
                best = {"fit": math.inf, "rank": math.inf, "evaluate": math.inf}
                for _ in range(repeats):
                    model = make_model(name, device="cpu")
                    started = time.perf_counter()
                    model.fit(split.train, catalog=catalog)
                    best["fit"] = min(best["fit"], time.perf_counter() - started)
                    started = time.perf_counter()
                    model.recommend(everyone, k=20)
                    best["rank"] = min(best["rank"], time.perf_counter() - started)
                    started = time.perf_counter()
                    evaluate(model, split, k=10, catalog=catalog)
                    best["evaluate"] = min(best["evaluate"], time.perf_counter() - started)
                p = MODELS[name].default_params()
                fit_units = jobs._fit_units(name, p, inter.n_users, inter.n_items, len(split.train))
                rank_units = jobs._score_units(name, p, inter.n_users, inter.n_items, len(inter))
                row = {"data": data, "model": name, **{k: round(v, 3) for k, v in best.items()},
                       "fit_rate": best["fit"] / fit_units, "rank_rate": best["rank"] / rank_units,
                       "auc_cell": max(0.0, best["evaluate"] - 2 * best["rank"]) / (inter.n_users * inter.n_items)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    for name in models:
        mine = [r for r in rows if r["model"] == name]
        if mine:
            geo = {key: math.exp(statistics.mean(math.log(max(r[key], 1e-15)) for r in mine))
                   for key in ("fit_rate", "rank_rate")}
            print(f"{name:11s} fit {geo['fit_rate']:.2e}  rank {geo['rank_rate']:.2e}", flush=True)
    return rows


def check(models: list[str], datasets: list[str], rounds: int = 2) -> list[dict]:
    from recsys import jobs

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in datasets:
            store, dataset = _store_with(data, Path(tmp) / data)
            refused = jobs.model_refusals(store, dataset)
            # the Popularity yardstick is trained with the first run of a split: train it first, so that
            # no other model's time includes it
            jobs.submit(store, dataset, "popularity", protocol="random", seed=42)
            jobs.run_worker(store, once=True)
            for name in models:
                if name in refused:
                    print(f"{name:11s} {data:10s} not offered: {refused[name]}", flush=True)
                    continue
                for attempt in range(rounds):
                    if name == "popularity" and attempt == 0:
                        continue  # trained above
                    run_id = jobs.submit(store, dataset, name, protocol="random", seed=42 + attempt)
                    guess = store.run(run_id)["estimate"]
                    jobs.run_worker(store, once=True)
                    run = store.run(run_id)
                    actual = float(run["duration_seconds"] or math.nan)
                    peak = next((c["peak_memory_bytes"] for c in store.run_costs(name, limit=5) if c["id"] == run_id), None)
                    row = {"model": name, "data": data, "estimated_s": round(guess["seconds"], 1),
                           "actual_s": round(actual, 1), "ratio": round(actual / guess["seconds"], 2),
                           "estimated_mb": round(guess["memory_bytes"] / 2**20),
                           "peak_mb": None if peak is None else round(peak / 2**20),
                           "basis": guess.get("basis", ""), "status": run["status"], "error": run["error"],
                           "phases": {k: round(v, 1) for k, v in (guess.get("phases") or {}).items()}}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    from recsys.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["measure", "check"])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--data", default=",".join(DATASETS))
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    models, datasets = args.models.split(","), args.data.split(",")
    if args.command == "measure":
        measure(models, datasets, args.repeats)
    else:
        check(models, datasets, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
