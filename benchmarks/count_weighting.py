"""Do play counts help? Implicit ALS with ``binary`` on (every interaction counts once) against off
(confidence ``1 + alpha * plays``), and item-KNN with ``use_values`` off against on, on a count dataset,
scored the way the studio scores runs (three-way split, models fit on fit-train and validated on
validation, NDCG@10 on the test part, every held-out play relevant). Several split seeds; the mean and
spread are printed as a Markdown table (docs/benchmarks.md quotes it).

    python -m benchmarks.count_weighting --listeners 4000 --artists 3000 --seeds 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.listening import listening_log
from recsys.data import interactions_from_frame
from recsys.evaluation import evaluate, fit_on_split
from recsys.models import make_model
from recsys.split import make_split

VARIANTS = (
    ("ials", {"binary": True}, "Implicit ALS, binary (each play counted once)"),
    ("ials", {"binary": False}, "Implicit ALS, confidence 1 + alpha x plays"),
    ("itemknn", {"use_values": False}, "Item-KNN, binary"),
    ("itemknn", {"use_values": True}, "Item-KNN, weighted by plays"),
)


def measure(listeners: int, artists: int, seeds: int, data_seed: int = 0) -> list[dict]:
    plays, _, _ = listening_log(listeners, artists, seed=data_seed)
    inter = interactions_from_frame(plays, {"user": "userID", "item": "artistID", "rating": "weight"})
    print(f"data: {len(inter):,} plays rows, {inter.n_users:,} listeners, {inter.n_items:,} artists")
    rows = []
    for model_name, params, title in VARIANTS:
        scores, seconds = [], []
        for seed in range(42, 42 + seeds):
            split = make_split(inter, "random", seed=seed)
            start = time.perf_counter()
            model = fit_on_split(make_model(model_name, seed=seed, device="cpu", **params) if model_name == "ials"
                                 else make_model(model_name, device="cpu", **params), split)
            scores.append(evaluate(model, split, k=10).summary["ndcg"])
            seconds.append(time.perf_counter() - start)
        rows.append({"variant": title, "ndcg": float(np.mean(scores)), "sd": float(np.std(scores)),
                     "scores": scores, "seconds": float(np.mean(seconds))})
        print(f"{title}: NDCG@10 {np.mean(scores):.4f} (sd {np.std(scores):.4f}; {', '.join(f'{s:.4f}' for s in scores)})"
              f" in {np.mean(seconds):.1f} s")
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| variant | NDCG@10 (mean of seeds) | sd | per seed |", "|---|---|---|---|"]
    for row in rows:
        per_seed = ", ".join(f"{s:.4f}" for s in row["scores"])
        lines.append(f"| {row['variant']} | {row['ndcg']:.4f} | {row['sd']:.4f} | {per_seed} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=4000)
    parser.add_argument("--artists", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data-seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(markdown(measure(args.listeners, args.artists, args.seeds, args.data_seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
