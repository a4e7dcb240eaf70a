"""The background worker as it really runs: separate ``python -m recsys worker`` processes on a real
SQLite file in a temp folder, killed, cancelled and polled while they write."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recsys import cli, jobs
from recsys.models import MODELS
from tests.conftest import env_for, start_worker, wait_for

ROOT = Path(__file__).resolve().parents[1]


def iterative_model() -> str:
    """A real iterative model (epochs reported one by one, cancellable between them)."""
    for name in ("ials", "bpr", "mf"):
        if MODELS[name].iterative:
            return name
    pytest.skip("no iterative model is implemented yet")


def interactions_csv(n_users: int = 50, n_items: int = 60, rows: int = 900, timestamps: bool = True,
                     seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"user": rng.integers(0, n_users, rows), "item": rng.integers(0, n_items, rows)})
    if timestamps:
        frame["timestamp"] = rng.integers(1_500_000_000, 1_600_000_000, rows)
    return frame.drop_duplicates(["user", "item"]).to_csv(index=False).encode()


def test_ensure_worker_needs_queued_work(store):
    assert jobs.ensure_worker(store) is False
    state = jobs.worker_state(store)
    assert state["alive"] is False and state["queued"] == 0 and state["run_id"] is None


def test_worker_trains_saves_and_survives_a_failing_run(store, processes, tmp_path, capsys):
    model = iterative_model()
    data = tmp_path / "plays.csv"
    data.write_bytes(interactions_csv())
    # queued from the command line (in this process; the worker below is a real separate process)
    assert cli.main(["submit", str(data), "--model", model, "--set", "epochs=3", "--set", "factors=8",
                     "--set", "seed=3", "--split", "random"]) == 0
    out = capsys.readouterr()
    trained = int(out.out.strip())
    assert "queued run" in out.err
    assert cli.main(["submit", str(data), "--model", "popularity", "--set", "factors=3"]) == 2
    assert "no setting" in capsys.readouterr().err
    with_time = store.add_dataset(data)  # the same bytes: the dataset the CLI registered
    assert store.run(trained)["dataset_id"] == with_time and store.run(trained)["seed"] == 42
    no_time = store.add_dataset(interactions_csv(timestamps=False, seed=1), source_name="plain.csv")
    failing = jobs.submit(store, no_time, "popularity", protocol="temporal")
    on_cuda = jobs.submit(store, with_time, "random", protocol="random", seed=42, device="cuda")

    worker = start_worker(store, processes)
    assert worker.wait(timeout=180) == 0

    run = store.run(trained)
    assert run["status"] == "done", run["error"]
    assert run["epochs_done"] == 3 and run["epochs_total"] == 3
    assert run["device"] == "cpu" or run["device"].startswith("cuda:")  # booked under one name: cuda:<card>
    assert run["started_at"] <= run["finished_at"] and run["phase"] is None
    epochs = store.epochs(trained)
    assert list(epochs["epoch"]) == [1, 2, 3] and epochs["loss"].notna().all()
    assert epochs["validation"].iloc[-1] is not None  # validated after the last epoch

    loaded = store.load_run_model(trained)
    assert loaded.name == model and loaded.n_users_ == store.dataset(with_time)["n_users"]
    evaluation = store.load_evaluation(trained)
    assert evaluation.summary["ndcg"] == pytest.approx(run["summary"]["ndcg"])
    assert len(evaluation.per_user["ndcg"]) == len(evaluation.users) > 0
    assert run["ci"]["ndcg"][0] <= run["summary"]["ndcg"] <= run["ci"]["ndcg"][1]
    recs = store.run_recommendations(trained)
    assert recs.groupby("user")["rank"].max().max() == 20
    # the model reloaded from disk recommends exactly what was stored
    first_user = recs["user"].iloc[0]
    again = loaded.recommend_frame([first_user], k=20)
    assert list(again["item"]) == list(recs[recs["user"] == first_user]["item"])

    baseline = store.baseline_run(with_time, "random", 42)
    assert baseline is not None and store.run(baseline)["is_baseline"] is True
    assert store.run(baseline)["summary"]["ndcg"] >= 0

    bad = store.run(failing)
    assert bad["status"] == "failed"
    assert "timestamp" in bad["error"].lower() and "\n" not in bad["error"]
    assert "Traceback" not in bad["error"]
    assert "Traceback" in (store.home / "logs" / f"run-{failing}.log").read_text()
    assert not store.run_dir(failing).exists()

    cpu = store.run(on_cuda)
    assert cpu["status"] == "done" and cpu["device_requested"] == "cuda"
    if not torch.cuda.is_available():
        assert cpu["device"] == "cpu"  # a GPU-less machine falls back to the CPU

    assert jobs.worker_state(store)["alive"] is False  # the --once worker left, and said so
    assert store.workers() == []

    assert cli.main(["runs", "--json"]) == 0
    listed = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed[trained]["status"] == "done" and listed[trained]["summary"]["ndcg"] is not None
    assert listed[failing]["status"] == "failed" and listed[baseline]["is_baseline"] is True
    assert cli.main(["runs"]) == 0
    table = capsys.readouterr().out
    assert "done (baseline)" in table and "failed" in table and model in table


READER = textwrap.dedent("""
    import json, os, sys, time
    from recsys.store import Store
    from recsys.jobs import progress, worker_state
    store, reads, errors = Store(), 0, []
    stop = os.path.join(sys.argv[1], "stop-readers")
    while not os.path.exists(stop):
        try:
            for run in store.list_runs().to_dict(orient="records"):
                progress(run)
                store.epochs(run["id"])
            worker_state(store)  # also writes: it marks runs of dead workers interrupted
            reads += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.1)  # about how often a dashboard page refreshes, and then some
    print(json.dumps({"reads": reads, "errors": errors}))
""")


def test_killed_worker_interrupts_its_run_and_the_queue_goes_on(store, processes):
    model = iterative_model()
    dataset_id = store.add_dataset(interactions_csv(), source_name="plays.csv")
    long_params = {"epochs": 5000, "factors": 8, "validate_every": 0}
    killed = jobs.submit(store, dataset_id, model, long_params, protocol="random")
    after = jobs.submit(store, dataset_id, "popularity", protocol="random", seed=5)
    cancelled = jobs.submit(store, dataset_id, model, long_params, protocol="random")

    readers = [subprocess.Popen([sys.executable, "-c", READER, str(store.home)], env=env_for(store),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    processes.extend(readers)

    assert jobs.ensure_worker(store) is True
    assert jobs.ensure_worker(store) is False  # one worker is enough; a second call starts none
    wait_for(lambda: store.run(killed)["epochs_done"] >= 2, "the first run to train two epochs")
    pid = jobs.worker_state(store)["pid"]
    assert jobs.worker_state(store)["run_id"] == killed
    os.kill(pid, signal.SIGKILL)  # mid-epoch: epochs take milliseconds and there are thousands

    wait_for(lambda: not jobs.worker_state(store)["alive"], "the killed worker to be noticed", timeout=10)
    assert jobs.worker_state(store)["queued"] == 2
    run = store.run(killed)
    assert run["status"] == "interrupted" and run["finished_at"] is not None
    assert f"pid {pid}" in run["error"] and "killed" in run["error"]
    with sqlite3.connect(store.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert not store.list_runs().empty

    worker = start_worker(store, processes)
    wait_for(lambda: store.run(after)["status"] == "done", "the next queued run to finish")
    wait_for(lambda: store.run(cancelled)["epochs_done"] >= 2, "the last run to start training")
    assert store.request_cancel(cancelled) == "running"
    seen = store.run(cancelled)["epochs_done"]
    assert worker.wait(timeout=60) == 0
    run = store.run(cancelled)
    assert run["status"] == "cancelled", run["error"]
    assert seen <= run["epochs_done"] <= seen + 1 < 5000  # stopped within one epoch
    assert run["error"].startswith("Cancelled after epoch")
    assert not store.run_dir(cancelled).exists()
    assert store.run(killed)["status"] == "interrupted"  # nothing else was touched

    (store.home / "stop-readers").touch()
    for reader in readers:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        report = json.loads(out)
        assert report["errors"] == []
        assert report["reads"] >= 10


def test_out_of_memory_message_says_what_to_change():
    run = {"params": {"factors": 256}}
    gpu = jobs._failure_message(torch.cuda.OutOfMemoryError("CUDA out of memory"), run, "training")
    assert "GPU memory" in gpu and "fewer factors (now 256)" in gpu and "smaller catalogue" in gpu and "CPU" in gpu
    ram = jobs._failure_message(MemoryError(), run, "training")
    assert "fewer factors" in ram and "smaller catalogue" in ram
    other = jobs._failure_message(ZeroDivisionError("division by zero"), run, "evaluating")
    assert other.startswith("Failed while evaluating: ZeroDivisionError") and "\n" not in other


def test_claims_are_atomic_and_one_run_per_device(store):
    dataset_id = store.add_dataset(interactions_csv(), source_name="plays.csv")
    first = jobs.submit(store, dataset_id, "popularity", protocol="random", device="cpu")
    second = jobs.submit(store, dataset_id, "popularity", protocol="random", device="cpu")
    claims: list[int | None] = []
    threads = [threading.Thread(target=lambda i=i: claims.append(jobs.claim_next(store, f"w{i}"))) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(c for c in claims if c is not None) == [first]  # taken once; the CPU is then busy
    assert store.run(second)["status"] == "queued"
    store.update_run(first, status="done")
    assert jobs.claim_next(store, "w9") == second
    run = store.run(second)
    assert run["status"] == "running" and run["worker_id"] == "w9" and run["device"] == "cpu"


def test_silent_worker_on_another_machine_is_declared_dead(store):
    dataset_id = store.add_dataset(interactions_csv(), source_name="plays.csv")
    run_id = jobs.submit(store, dataset_id, "popularity", protocol="random")
    stale = time.time() - jobs.STALE_SECONDS - 5
    with store.transaction() as conn:
        conn.execute("INSERT INTO workers (id, pid, host, state, started_at, heartbeat_at) VALUES"
                     " ('far:1', 1, 'another-machine', 'busy', ?, ?)", (stale, stale))
    assert jobs.claim_next(store, "far:1") == run_id
    assert jobs.worker_state(store)["alive"] is False
    run = store.run(run_id)
    assert run["status"] == "interrupted" and "no heartbeat" in run["error"]
    assert store.workers() == []


def test_idle_worker_leaves_on_its_own(store):
    started = time.monotonic()
    assert jobs.run_worker(store, idle_exit=0.3) == 0
    assert time.monotonic() - started < 30
    assert store.workers() == []
