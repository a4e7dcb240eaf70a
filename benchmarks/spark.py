"""Spark ALS (``recsys.engines.spark``) side by side with local ``ials``, on synthetic data.

For each size (default 1M and 10M interactions of :mod:`benchmarks.synthetic` data: 50 per user on
average, 4 users per item), two child processes build the same arrays, one after the other: one fits our
``ials`` on this machine, the other fits the same settings on Spark (``local[2]`` by default) through
:func:`recsys.engines.spark.fit_ials`. Reported for each: the seconds of every iteration as ``on_epoch``
reports them (Spark's first includes reading the Parquet file and building its rating blocks, its last
bringing the factors back to this process), the whole fit, Spark's session start, and peak memory: the
Python process's ``VmHWM`` and, for Spark, the JVM's (a child process Python's own figure misses).

Spark iterations at 10M take tens of seconds on 2 shared cores, so the default measures 3 iterations at
1M and 2 at 10M (``--iterations``); local ``ials`` runs as many.

    python -m benchmarks.spark                                   # 1M and 10M
    python -m benchmarks.spark --sizes 1M --iterations 5 --master "local[4]"
    python -m benchmarks.spark --json out.json --markdown out.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import synthetic
from benchmarks.machine import (
    machine_info,
    machine_markdown,
    markdown_table,
    parse_size,
    peak_rss_mb,
    publish,
    size_label,
)

REPO = Path(__file__).resolve().parents[1]
MARK = "@@"


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory of process ``pid`` in MiB (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _child(args: argparse.Namespace) -> None:
    """Build the data, fit once on ``args.child`` ("local" or "spark"), print one JSON line."""
    import numpy as np

    from recsys.data import Interactions
    from recsys.models import make_model

    n = parse_size(args.size)
    n_users, n_items = synthetic.shape_for(n)
    users, items = synthetic.generate(n_users, n_items, n, seed=args.seed)
    inter = Interactions(users=users, items=items, user_ids=np.arange(n_users), item_ids=np.arange(n_items))
    del users, items
    model = make_model("ials", factors=args.factors, epochs=args.iterations, device="cpu")
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    out: dict[str, Any] = {"engine": args.child, "size": n, "users": n_users, "items": n_items}
    if args.child == "spark":
        from recsys.engines import spark

        conf = {"spark.driver.memory": args.driver_memory}
        model = spark.fit_ials(model, inter, records.append, master=args.master, conf=conf)
        out["spark"] = model.engine_
        session = spark.session(args.master, conf)
        out["jvm_peak_mb"] = _vm_hwm_mb(session.sparkContext._gateway.proc.pid)
        spark.stop_session()
    else:
        model.fit(inter, records.append)
    out["fit_seconds"] = time.perf_counter() - started
    out["iterations"] = [round(float(r["seconds"]), 3) for r in records]
    out["loss"] = records[-1]["loss"]
    out["python_peak_mb"] = peak_rss_mb()
    sys.stdout.write(MARK + json.dumps(out) + "\n")


def _measure(engine: str, size: str, iterations: int, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.spark", "--child", engine, "--size", size, "--iterations",
            str(iterations), "--factors", str(args.factors), "--master", args.master, "--driver-memory",
            args.driver_memory, "--seed", str(args.seed)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env)
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"{engine} at {size} failed:\n{done.stderr[-3000:]}")


def report_markdown(results: dict[str, Any]) -> str:
    rows = []
    for r in results["runs"]:
        its = r["iterations"]
        later = its[1:-1] if r["engine"] == "spark" else its
        spark = r.get("spark") or {}
        rows.append([
            size_label(r["size"]), f"{r['users']:,} x {r['items']:,}",
            "Spark " + spark.get("master", "") if r["engine"] == "spark" else "local ials (torch)",
            spark.get("session_seconds"), ", ".join(f"{s:.2f}" for s in its),
            statistics.median(later) if later else None, r["fit_seconds"], r["python_peak_mb"], r.get("jvm_peak_mb"),
        ])
    table = markdown_table(
        ["size", "users x items", "engine", "session start s", "each iteration s", "median s (Spark: not first/last)",
         "fit s", "Python peak MiB", "JVM peak MiB"], rows)
    head = (f"Spark {results.get('spark_version')} on {results['master']} against local ials, {results['factors']} factors, "
            "synthetic data (benchmarks/synthetic.py).")
    return "\n\n".join([head, machine_markdown(results["machine"]), table])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Spark ALS side by side with local ials.")
    parser.add_argument("--sizes", default="1M,10M", help="interactions per dataset, comma separated")
    parser.add_argument("--iterations", default="3,2", help="iterations per size (one number for all)")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--child", choices=["local", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.iterations = int(args.iterations)
        _child(args)
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    counts = [int(c) for c in args.iterations.split(",")]
    counts = counts + [counts[-1]] * (len(sizes) - len(counts))
    from recsys.engines import spark

    results: dict[str, Any] = {"machine": machine_info(), "master": args.master, "factors": args.factors,
                               "spark_version": spark.pyspark_version(), "runs": []}
    for size, iterations in zip(sizes, counts, strict=False):
        for engine in ("local", "spark"):
            results["runs"].append(_measure(engine, size, iterations, args))
            print(f"{engine} {size}: {results['runs'][-1]['iterations']}", file=sys.stderr)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    publish(report_markdown(results), results, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
