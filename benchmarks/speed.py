"""CPU speed of Tastemaker's models against implicit's, measured alternately in one run.

For each size (default 1M, 5M, 10M interactions of :mod:`benchmarks.synthetic` data, 50 per user on
average, 4 users per item) and each pair (our ``ials`` vs implicit's ``AlternatingLeastSquares`` with
conjugate gradient; our ``bpr`` vs implicit's ``BayesianPersonalizedRanking``), two worker processes
load the same arrays, one per library. The parent then lets them train one epoch at a time, taking
turns (ours, theirs, theirs, ours, ...), so both see the same machine load; each epoch's time is the
library's own (our ``on_epoch`` record's ``seconds``; implicit's fit callback's elapsed time). Reported:
the median over the measured epochs (warm-up epochs excluded), top-10 for every user (seen items
excluded, again taking turns), and each worker's peak resident memory (``ru_maxrss``) after training,
next to its memory after imports (the runtime: torch's for ours). EASE fit time is ours only (implicit
has no EASE), next to a 5-line numpy EASE for scale.

    python -m benchmarks.speed                     # full run; prints Markdown, writes JSON with --json
    python -m benchmarks.speed --quick             # a small run (seconds)
    python -m benchmarks.speed --implicit-python /path/to/venv/bin/python   # implicit in another venv

implicit runs with its BLAS pool limited to one thread (its own advice) and ``num_threads`` = ``--threads``;
torch uses ``--threads`` intra-op threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import synthetic
from benchmarks.machine import (
    cpu_caption,
    machine_info,
    machine_markdown,
    markdown_table,
    parse_size,
    peak_rss_mb,
    publish,
    size_label,
)

REPO = Path(__file__).resolve().parents[1]
MARK = "@@"  # worker lines on stdout that carry a JSON message start with this
TARGETS = {"ials": 1.0, "bpr": 1.5}  # ours / implicit per-epoch time (issue 16; issue 6 had 1.5 and 2.0)
RECOMMEND_TARGET = 1.0  # ours / implicit, top-10 for every user (issue 16)
TARGET_FROM = 10_000_000  # the targets hold at 10M interactions; smaller sizes are shown without a verdict
IMPLICIT_NAMES = {"ials": "AlternatingLeastSquares (CG)", "bpr": "BayesianPersonalizedRanking"}


# -- worker side -------------------------------------------------------------------------------------


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(MARK + json.dumps(message) + "\n")
    sys.stdout.flush()


def _wait() -> str:
    line = sys.stdin.readline()
    if not line:
        raise SystemExit(0)  # the parent went away
    return line.strip()


class _OursTrainer:
    """Our model behind the worker protocol."""

    def __init__(self, model_name: str, args: argparse.Namespace) -> None:
        import torch

        torch.set_num_threads(args.threads)
        from recsys.models import make_model

        self.torch = torch
        self.make_model = make_model
        self.model_name = model_name
        self.args = args

    def load(self, data: Path) -> None:
        users, items, n_users, n_items = synthetic.load(data)
        self.train = synthetic.to_interactions(users, items, n_users, n_items)

    def fit(self, epochs: int, on_epoch) -> None:
        wanted = {"factors": self.args.factors, "epochs": epochs, "device": "cpu", "seed": self.args.seed}
        wanted.update(json.loads(self.args.ours_params or "{}"))
        probe = self.make_model(self.model_name)
        self.model = self.make_model(
            self.model_name, **{k: v for k, v in wanted.items() if k in probe.param_names()}
        )
        self.model.fit(self.train, on_epoch=lambda rec: on_epoch(rec["epoch"], rec["seconds"], rec["loss"]))

    def recommend(self, k: int) -> None:
        self.model.recommend(None, k=k)


class _ImplicitTrainer:
    """implicit's CPU model behind the worker protocol."""

    def __init__(self, model_name: str, args: argparse.Namespace) -> None:
        from threadpoolctl import threadpool_limits

        self.limits = threadpool_limits(1, "blas")  # implicit's own advice for its CPU models
        self.model_name = model_name
        self.args = args

    def load(self, data: Path) -> None:
        self.user_items = synthetic.to_csr(*synthetic.load(data))

    def fit(self, epochs: int, on_epoch) -> None:
        params = {"factors": self.args.factors, "iterations": epochs, "num_threads": self.args.threads,
                  "random_state": self.args.seed}
        params.update(json.loads(self.args.implicit_params or "{}"))
        if self.model_name == "ials":
            from implicit.cpu.als import AlternatingLeastSquares

            self.model = AlternatingLeastSquares(use_cg=True, calculate_training_loss=False, **params)
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            self.model = BayesianPersonalizedRanking(**params)
        self.model.fit(
            self.user_items, show_progress=False,
            # ALS calls back (iteration, seconds, loss), BPR (iteration, seconds, correct, skipped)
            callback=lambda iteration, elapsed, *progress: on_epoch(iteration + 1, elapsed, None),
        )

    def recommend(self, k: int) -> None:
        import numpy as np

        users = np.arange(self.user_items.shape[0])
        self.model.recommend(users, self.user_items, N=k, filter_already_liked_items=True)


def _train_worker(args: argparse.Namespace) -> None:
    """One library, one model: load, then train and recommend when told (see :func:`_run_pair`)."""
    _send({"event": "started", "rss_mb": peak_rss_mb()})
    trainer = (_OursTrainer if args.lib == "ours" else _ImplicitTrainer)(args.model, args)
    imported = peak_rss_mb()
    trainer.load(Path(args.data))
    from benchmarks.machine import threadpools

    _send({"event": "ready", "import_rss_mb": imported, "rss_mb": peak_rss_mb(), "threadpools": threadpools()})
    _wait()
    started = time.perf_counter()

    def on_epoch(epoch: int, seconds: float, loss) -> None:
        _send({"event": "epoch", "epoch": int(epoch), "seconds": float(seconds),
               "since_go": time.perf_counter() - started,
               "loss": None if loss is None else float(loss)})
        _wait()

    trainer.fit(args.warmup + args.epochs, on_epoch)
    _send({"event": "trained", "peak_rss_mb": peak_rss_mb()})
    while (command := _wait()) != "quit":
        if command == "recommend":
            t0 = time.perf_counter()
            trainer.recommend(10)
            _send({"event": "recommend", "seconds": time.perf_counter() - t0})
    _send({"event": "done", "peak_rss_mb": peak_rss_mb()})


def _ease_worker(args: argparse.Namespace) -> None:
    """Fit EASE once on the data (ours, or the numpy reference) and report the time and memory."""
    users, items, n_users, n_items = synthetic.load(args.data)
    if args.lib == "ours":
        import torch

        torch.set_num_threads(args.threads)
        from recsys.models import make_model

        train = synthetic.to_interactions(users, items, n_users, n_items)
        probe = make_model("ease")
        model = make_model("ease", **({"device": "cpu"} if "device" in probe.param_names() else {}))
        imported = peak_rss_mb()
        t0 = time.perf_counter()
        model.fit(train)
        seconds = time.perf_counter() - t0
    else:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        imported = peak_rss_mb()
        t0 = time.perf_counter()
        numpy_ease(synthetic.to_csr(users, items, n_users, n_items))
        seconds = time.perf_counter() - t0
    _send({"event": "done", "seconds": seconds, "import_rss_mb": imported, "peak_rss_mb": peak_rss_mb()})


def numpy_ease(user_items, regularization: float = 500.0):
    """The textbook EASE in numpy (float32): ``P = (X'X + lambda I)^-1``, ``B = -P / diag(P)``,
    ``diag(B) = 0``. Only for scale next to ours."""
    import numpy as np

    gram = (user_items.T @ user_items).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += regularization
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


# -- parent side -------------------------------------------------------------------------------------


class WorkerError(RuntimeError):
    """A worker process failed; the message carries the end of its error output."""


class Worker:
    """A benchmark worker process speaking one JSON message per stdout line."""

    def __init__(self, python: str, argv: list[str], label: str) -> None:
        self.label = label
        self.errors = tempfile.TemporaryFile(mode="w+")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.proc = subprocess.Popen(
            [python, "-m", "benchmarks.speed", *argv], cwd=REPO, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
        )

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, *events: str) -> dict[str, Any]:
        """The next message whose event is one of ``events`` (others, e.g. "started", are skipped)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                message = json.loads(line[len(MARK):])
                if message.get("event") in events:
                    return message
        self.proc.wait()
        self.errors.seek(0)
        tail = self.errors.read()[-3000:]
        raise WorkerError(f"{self.label} exited ({self.proc.returncode}) before {'/'.join(events)}:\n{tail}")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errors.close()


def implicit_available(python: str) -> str | None:
    """implicit's version in that interpreter, or None when it does not import there."""
    probe = subprocess.run(
        [python, "-c", "import implicit; print(implicit.__version__)"], capture_output=True, text=True
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def matched_implicit_params(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """implicit settings equivalent to our model's defaults (regularisation, confidence, learning rate);
    factors, epochs, threads and seed are set by the benchmark itself."""
    from benchmarks.quality import implicit_params
    from recsys.models import make_model

    ours = make_model(model, **json.loads(args.ours_params or "{}"))
    params = implicit_params(ours)
    return {k: v for k, v in params.items()
            if k in ("regularization", "alpha", "learning_rate", "verify_negative_samples")}


def _worker_argv(kind: str, lib: str, model: str, data: Path, args: argparse.Namespace) -> list[str]:
    argv = ["--worker", kind, "--lib", lib, "--model", model, "--data", str(data),
            "--threads", str(args.threads), "--factors", str(args.factors), "--seed", str(args.seed),
            "--epochs", str(args.epochs), "--warmup", str(args.warmup)]
    if args.ours_params:
        argv += ["--ours-params", args.ours_params]
    if lib == "implicit":
        their = args.implicit_params or json.dumps(matched_implicit_params(model, args))
        argv += ["--implicit-params", their]
    return argv


def _run_pair(model: str, data: Path, args: argparse.Namespace, with_implicit: bool) -> dict[str, Any]:
    """Train ours and implicit's ``model`` on ``data``, one epoch each in turn; then top-10 in turn."""
    workers = {"ours": Worker(sys.executable, _worker_argv("train", "ours", model, data, args), f"ours {model}")}
    if with_implicit:
        workers["implicit"] = Worker(
            args.implicit_python, _worker_argv("train", "implicit", model, data, args), f"implicit {model}"
        )
    result: dict[str, Any] = {name: {"epochs": [], "recommend": []} for name in workers}
    try:
        for name, worker in workers.items():
            ready = worker.expect("ready")
            result[name].update(import_rss_mb=ready["import_rss_mb"], loaded_rss_mb=ready["rss_mb"],
                                threadpools=ready["threadpools"])
        names = list(workers)
        for epoch in range(args.warmup + args.epochs + 1):  # the last "go" lets fit() return
            for name in names if epoch % 2 == 0 else names[::-1]:
                if "peak_rss_mb" in result[name]:
                    continue  # this one has finished training (all epochs run, or it stopped early)
                workers[name].send("go")
                record = workers[name].expect("epoch", "trained")
                if record["event"] == "trained":
                    result[name]["peak_rss_mb"] = record["peak_rss_mb"]
                else:
                    result[name]["epochs"].append(record)
        for repeat in range(args.recommend_repeats):
            for name in names if repeat % 2 == 0 else names[::-1]:
                workers[name].send("recommend")
                result[name]["recommend"].append(workers[name].expect("recommend")["seconds"])
        for name, worker in workers.items():
            worker.send("quit")
            result[name]["final_rss_mb"] = worker.expect("done")["peak_rss_mb"]
    except WorkerError as exc:
        result["error"] = str(exc)
    finally:
        for worker in workers.values():
            worker.close()
    for name in workers:
        measured = [r["seconds"] for r in result[name]["epochs"][args.warmup:]]
        result[name]["epoch_median"] = statistics.median(measured) if measured else None
        recs = result[name]["recommend"]
        result[name]["recommend_median"] = statistics.median(recs) if recs else None
    return result


def _run_ease(n_items: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    n_users = args.ease_users
    n_inter = min(args.ease_per_item * n_items, n_users * n_items // 5)
    users, items = synthetic.generate(n_users, n_items, n_inter, seed=args.seed)
    path = synthetic.save(workdir / f"ease_{n_items}.npz", users, items, n_users, n_items)
    out: dict[str, Any] = {"items": n_items, "users": n_users, "interactions": n_inter}
    for lib in ("ours", "numpy"):
        worker = Worker(sys.executable, _worker_argv("ease", lib, "ease", path, args), f"{lib} ease")
        try:
            out[lib] = worker.expect("done")
        except WorkerError as exc:
            out[lib] = {"error": str(exc)}
        finally:
            worker.close()
    return out


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return None if ours is None or not theirs else ours / theirs


def _verdict(ratio: float | None, target: float, judged: bool) -> str | None:
    """"yes" / "NO" against the target where it applies (``judged``), else None (shown as a dash)."""
    return None if ratio is None or not judged else ("yes" if ratio <= target else "NO")


def report_markdown(results: dict[str, Any]) -> str:
    """The result tables as Markdown (what docs/benchmarks.md shows)."""
    parts = ["### Machine", "", machine_markdown(results["machine"]), "",
             f"Command: `{results['command']}`", ""]
    rows, recs, memory = [], [], []
    for size in results["sizes"]:
        for model, pair in size["pairs"].items():
            ours, theirs = pair.get("ours", {}), pair.get("implicit", {})
            judged = size["interactions"] >= TARGET_FROM
            ratio = _ratio(ours.get("epoch_median"), theirs.get("epoch_median"))
            rows.append([size["label"], model, ours.get("epoch_median"), theirs.get("epoch_median"), ratio,
                         f"≤ {TARGETS[model]}x" if judged else "(at 10M)", _verdict(ratio, TARGETS[model], judged)])
            rec_ratio = _ratio(ours.get("recommend_median"), theirs.get("recommend_median"))
            recs.append([size["label"], model, ours.get("recommend_median"), theirs.get("recommend_median"),
                         rec_ratio, f"≤ {RECOMMEND_TARGET}x" if judged else "(at 10M)",
                         _verdict(rec_ratio, RECOMMEND_TARGET, judged)])
            runtime = None
            if theirs.get("import_rss_mb") is not None and ours.get("import_rss_mb") is not None:
                runtime = ours["import_rss_mb"] - theirs["import_rss_mb"]
            budget = None if runtime is None or theirs.get("peak_rss_mb") is None else (
                2 * theirs["peak_rss_mb"] + runtime)
            mem_ok = None if budget is None or ours.get("peak_rss_mb") is None else (
                "yes" if ours["peak_rss_mb"] <= budget else "NO")
            memory.append([size["label"], model, ours.get("peak_rss_mb"), theirs.get("peak_rss_mb"),
                           _ratio(ours.get("peak_rss_mb"), theirs.get("peak_rss_mb")), runtime, budget, mem_ok])
            if pair.get("error"):
                parts += [f"**{size['label']} {model} failed:**", "", "```", pair["error"], "```", ""]
    caption = cpu_caption(results["machine"])  # under every table: the numbers belong to this CPU
    parts += ["### Seconds per epoch (median of measured epochs; warm-up excluded)", "", caption, "",
              markdown_table(["interactions", "model", "ours s", "implicit s", "ours / implicit", "target",
                              "met"], rows), ""]
    parts += ["### Top-10 for every user (seen items excluded), seconds", "", caption, "",
              markdown_table(["interactions", "after training", "ours s", "implicit s", "ours / implicit",
                              "target", "met"], recs),
              ""]
    parts += ["### Peak resident memory after training, MiB", "", caption, "",
              "Budget = 2 x implicit's peak + torch's runtime (our worker's memory after imports minus "
              "implicit's).", "",
              markdown_table(["interactions", "model", "ours MiB", "implicit MiB", "ratio", "torch runtime MiB",
                              "budget MiB", "within"], memory), ""]
    if results.get("ease"):
        ease_rows = [[e["items"], e["interactions"], e["ours"].get("seconds"), e["numpy"].get("seconds"),
                      _ratio(e["ours"].get("seconds"), e["numpy"].get("seconds")), e["ours"].get("peak_rss_mb")]
                     for e in results["ease"]]
        parts += ["### EASE fit (ours; implicit has no EASE; numpy's 5-line EASE for scale)", "", caption, "",
                  markdown_table(["items", "interactions", "ours s", "numpy s", "ours / numpy", "ours peak MiB"],
                                 ease_rows), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CPU speed against implicit, measured alternately.")
    parser.add_argument("--sizes", default="1M,5M,10M", help="interactions per dataset, comma separated")
    parser.add_argument("--models", default="ials,bpr")
    parser.add_argument("--epochs", type=int, default=5, help="measured epochs per model")
    parser.add_argument("--warmup", type=int, default=1, help="epochs run first and not counted")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recommend-repeats", type=int, default=2)
    parser.add_argument("--ease-items", default="5000,10000,20000", help="catalogue sizes for EASE ('' skips)")
    parser.add_argument("--ease-users", type=int, default=50_000)
    parser.add_argument("--ease-per-item", type=int, default=50, help="interactions per item in EASE data")
    parser.add_argument("--implicit-python", default=sys.executable,
                        help="interpreter that has implicit installed (default: this one)")
    parser.add_argument("--no-implicit", action="store_true", help="time ours only")
    parser.add_argument("--ours-params", help="JSON of extra settings for our models")
    parser.add_argument("--implicit-params", help="JSON of extra settings for implicit's models")
    parser.add_argument("--quick", action="store_true", help="small sizes: 100k interactions, EASE at 1k items")
    parser.add_argument("--workdir", help="where the generated data go (default: a temporary folder)")
    parser.add_argument("--json", help="also write all measurements here")
    parser.add_argument("--markdown", help="also write the Markdown report here")
    # worker mode (internal)
    parser.add_argument("--worker", choices=["train", "ease"], help=argparse.SUPPRESS)
    parser.add_argument("--lib", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "train":
        _train_worker(args)
        return 0
    if args.worker == "ease":
        _ease_worker(args)
        return 0

    if args.quick:
        args.sizes, args.ease_items = "100k", "1000"
        args.epochs, args.warmup, args.recommend_repeats = 3, 1, 1
    version = None if args.no_implicit else implicit_available(args.implicit_python)
    if version is None and not args.no_implicit:
        print(f"implicit does not import in {args.implicit_python}: timing ours only.", file=sys.stderr)
    command = "python -m benchmarks.speed " + " ".join(argv if argv is not None else sys.argv[1:])
    info = machine_info()
    info["implicit"] = version
    results: dict[str, Any] = {"machine": info, "command": command.strip(), "sizes": [], "ease": []}
    models = [m for m in args.models.split(",") if m]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        for size in [parse_size(s) for s in args.sizes.split(",") if s]:
            n_users, n_items = synthetic.shape_for(size)
            t0 = time.perf_counter()
            users, items = synthetic.generate(n_users, n_items, size, seed=args.seed)
            path = synthetic.save(workdir / f"data_{size}.npz", users, items, n_users, n_items)
            entry = {"interactions": size, "label": size_label(size), "users": n_users, "items": n_items,
                     "generate_seconds": time.perf_counter() - t0, "pairs": {}}
            print(f"[{size_label(size)}] {n_users:,} users x {n_items:,} items generated in "
                  f"{entry['generate_seconds']:.1f}s", file=sys.stderr)
            for model in models:
                entry["pairs"][model] = _run_pair(model, path, args, with_implicit=version is not None)
                pair = entry["pairs"][model]
                print(f"[{size_label(size)}] {model}: ours {pair['ours'].get('epoch_median')} s/epoch, implicit "
                      f"{pair.get('implicit', {}).get('epoch_median')} s/epoch {pair.get('error', '')}",
                      file=sys.stderr)
            results["sizes"].append(entry)
            path.unlink()
        for n_items in [parse_size(s) for s in args.ease_items.split(",") if s]:
            results["ease"].append(_run_ease(n_items, args, workdir))
            print(f"[ease {n_items}] {results['ease'][-1]}", file=sys.stderr)
    results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    text = report_markdown(results)
    publish(text, results, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
