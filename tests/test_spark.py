"""Training ``ials`` on Apache Spark (``local[2]``): the settings mapping, the engine in this process (one
JVM for the module), the real worker and the command line, and Spark's failures as one sentence.

Tests that start a JVM are marked ``spark`` and ``slow`` (outside the quick part of the suite); the
mapping, the checks and submitting run in the quick part.

Spark is optional: without pyspark or Java these tests skip, except where Spark is required
(``CI`` or ``TASTEMAKER_REQUIRE_SPARK`` set, as ``make test`` does), where they fail and say how to
install it. JVMs are memory-hungry and the test machine is shared: every session here gets 1 GB of
driver memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import cli, jobs
from recsys.data import Interactions
from recsys.engines import engine_settings, fitter, spark
from recsys.models import ModelError, load_model, make_model
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
CONF = {"spark.driver.memory": "1g"}
CONF_ARGS = ["--spark-conf", "spark.driver.memory=1g"]
# Demo runs: fewer factors and iterations than the defaults, to keep CI short (the mapping holds there too).
DEMO_SETTINGS = {"factors": 32, "epochs": 8}


def require_spark() -> None:
    """Skip without Spark, or fail where Spark is required (CI, ``make test``)."""
    problem = None if spark.pyspark_installed() else "pyspark is not installed"
    problem = problem or spark.java_problem()
    if problem is None:
        return
    if os.environ.get("CI") or os.environ.get("TASTEMAKER_REQUIRE_SPARK"):
        pytest.fail(f"The Spark tests must run here, but {problem}: `make spark` installs pyspark and Java.")
    pytest.skip(f"{problem} (`make spark` installs Spark)")


@pytest.fixture(scope="module")
def spark_session():
    """This module's local[2] session for the in-process tests; call ``spark.session("local[2]", CONF)``
    for the current one (the first test kills the JVM, and the next call starts the one the rest share)."""
    require_spark()
    yield spark.session("local[2]", CONF)
    spark.stop_session()


def listening_log(seed: int = 0) -> pd.DataFrame:
    """Play counts of two taste groups that never meet: rock listeners play rock bands, jazz listeners
    jazz musicians (and a few rare artists nobody in training plays are named by the tests)."""
    rng = np.random.default_rng(seed)
    rock = [f"rock band {i}" for i in range(40)]
    jazz = [f"jazz trio {i}" for i in range(40)]
    rows = []
    for person in range(120):
        group = rock if person % 2 == 0 else jazz
        for artist in rng.choice(group, size=int(rng.integers(8, 20)), replace=False):
            rows.append((f"listener {person}", artist, int(rng.integers(1, 300))))
    return pd.DataFrame(rows, columns=["listener", "artist", "plays"])


def one_sentence(text: str) -> bool:
    """A single plain line: no traceback, no Java stack frame, no Python exception dump."""
    return ("\n" not in text.strip() and "Traceback" not in text and "\tat " not in text
            and "Py4J" not in text and len(text) < 400)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when this returns: nothing listens there


# -- the mapping and the checks (no JVM) -----------------------------------------------------------
def test_settings_map_onto_spark_als_with_the_user_side_penalty_kept():
    # 3 users with 2, 4 and 0 interactions: regParam = 6 * 2 active users / 6 interactions = 2
    inter = Interactions(users=np.array([0, 0, 1, 1, 1, 1]), items=np.array([0, 1, 0, 1, 2, 3]),
                         user_ids=np.array(["a", "b", "c"]), item_ids=np.array(["w", "x", "y", "z"]))
    model = make_model("ials", factors=12, epochs=7, alpha=3.0, regularization=6.0, seed=5)
    params = spark.als_params(model, inter.to_csr(), blocks=2)
    assert params["regParam"] == pytest.approx(2.0)
    assert (params["rank"], params["maxIter"], params["alpha"], params["seed"]) == (12, 7, 3.0, 5)
    assert params["implicitPrefs"] is True and params["numUserBlocks"] == params["numItemBlocks"] == 2


def test_ials_loss_is_the_local_models_own_objective():
    """The loss reported for Spark's factors is computed as a local fit computes its own."""
    data = listening_log()
    inter = Interactions.from_frame(data, "listener", "artist", "plays")
    for binary in (True, False):
        model = make_model("ials", factors=8, epochs=3, binary=binary).fit(inter)
        assert spark.ials_loss(model) == pytest.approx(model.history_[-1]["loss"], rel=1e-4)


def test_master_urls_and_spark_settings_are_checked_in_one_sentence(monkeypatch):
    for url in ("local", "local[2]", "local[*]", "local[4,2]", "spark://host:7077", "spark://a:7077,b:7077",
                "yarn", "k8s://https://kube.example:443"):
        assert spark.check_master(url) == url
    for url in ("", "spark://", "spark://host", "foo://bar", "local[0]", "mesos://x:5050", "yarn cluster"):
        with pytest.raises(spark.SparkError) as caught:
            spark.check_master(url)
        assert one_sentence(str(caught.value)) and "master URL" in str(caught.value)
    assert spark.check_conf(["spark.executor.memory=8g", "spark.sql.shuffle.partitions = 4"]) == {
        "spark.executor.memory": "8g", "spark.sql.shuffle.partitions": "4"}
    for bad in (["executor.memory=8g"], ["spark.executor.memory"], ["spark.master=yarn"]):
        with pytest.raises(spark.SparkError):
            spark.check_conf(bad)
    monkeypatch.delenv("SPARK_MASTER", raising=False)
    assert engine_settings("spark") == {"name": "spark", "master": "local[2]", "conf": {}}
    monkeypatch.setenv("SPARK_MASTER", "spark://cluster:7077")
    assert engine_settings("spark")["master"] == "spark://cluster:7077"
    assert engine_settings("spark", "local[3]")["master"] == "local[3]"
    assert engine_settings(None) == {"name": "local"} and fitter(engine_settings(None)) is None
    for bad in ({"engine": "dask"}, {"engine": "local", "master": "local[2]"}):
        with pytest.raises(ModelError):
            engine_settings(**bad)


def test_the_library_does_not_import_pyspark_until_spark_is_used():
    code = ("import sys, recsys.cli, recsys.jobs, recsys.engines, recsys.engines.spark; "
            "recsys.engines.spark.installed(); print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_submit_records_the_engine_and_refuses_what_spark_cannot_train(store, tmp_path, capsys):
    require_spark()
    data = tmp_path / "plays.csv"
    listening_log().to_csv(data, index=False)
    dataset = store.add_dataset(data)
    local = jobs.submit(store, dataset, "ials", {"epochs": 4})
    on_spark = jobs.submit(store, dataset, "ials", {"epochs": 4}, engine="spark", master="local[3]",
                           spark_conf={"spark.executor.memory": "2g"})
    assert store.run(local)["engine"] == {"name": "local"}
    assert store.run(on_spark)["engine"] == {"name": "spark", "master": "local[3]",
                                             "conf": {"spark.executor.memory": "2g"}}
    # the session start and the two fits (evaluated and serving) are in the estimate
    assert store.run(on_spark)["estimate"]["seconds"] > store.run(local)["estimate"]["seconds"] + spark.SESSION_SECONDS
    assert "on the Spark cluster for training" in jobs.Estimate(**store.run(on_spark)["estimate"]).to_text()
    assert jobs.Estimate(**store.run(local)["estimate"]).to_text().endswith("on the CPU")
    for model, kwargs, words in (("ease", {}, "Only ials"), ("ials", {"master": "nowhere:7077"}, "master URL"),
                                 ("ials", {"spark_conf": {"executor.memory": "8g"}}, "spark.NAME=VALUE")):
        with pytest.raises(jobs.JobRefused, match=words):
            jobs.submit(store, dataset, model, engine="spark", **kwargs)
    before = len(store.run_records())
    assert cli.main(["submit", str(data), "--model", "ials", "--engine", "spark", "--master", "foo://x"]) == 2
    assert "master URL" in capsys.readouterr().err and len(store.run_records()) == before  # nothing stored
    assert cli.main(["submit", str(data), "--model", "ials", "--set", "epochs=2", "--engine", "spark",
                     "--master", "local[2]", *CONF_ARGS]) == 0
    queued = int(capsys.readouterr().out.strip())
    assert store.run(queued)["engine"] == {"name": "spark", "master": "local[2]", "conf": CONF}


# -- the engine in this process (one JVM, replaced once by the first test) ------------------------
@pytest.mark.slow
@pytest.mark.spark
def test_a_lost_spark_process_fails_in_one_sentence_and_the_next_session_starts_a_new_jvm(spark_session):
    """Spark's JVM killed mid-fit (what an executor lost or the OOM killer does to a local master)."""
    inter = Interactions.from_frame(listening_log(4), "listener", "artist", "plays")
    jvm = spark.session("local[2]", CONF).sparkContext._gateway.proc.pid

    def on_epoch(record):
        if record["epoch"] == 1:
            os.kill(jvm, signal.SIGKILL)

    with pytest.raises(spark.SparkError) as caught:
        spark.fit_ials(make_model("ials", factors=8, epochs=300), inter, on_epoch, master="local[2]", conf=CONF)
    assert one_sentence(str(caught.value)) and "Java process stopped while training" in str(caught.value)
    again = spark.session("local[2]", CONF)  # a new JVM answers (and serves the tests below)
    assert again.sparkContext._gateway.proc.pid != jvm and again.range(3).count() == 3


@pytest.mark.slow
@pytest.mark.spark
def test_spark_factors_come_back_as_an_ordinary_ials_model(spark_session, tmp_path):
    data = listening_log()
    full = Interactions.from_frame(data, "listener", "artist", "plays")
    rare = full.item_index(["jazz trio 39"])[0]
    train = full.subset(full.items != rare)  # an artist in the numbering that nobody in training plays
    records = []
    model = make_model("ials", factors=16, epochs=4, binary=False, regularization=5.0)
    started = time.perf_counter()
    spark.fit_ials(model, train, records.append, master="local[2]", conf=CONF)
    assert time.perf_counter() - started < 120

    assert [r["epoch"] for r in records] == [1, 2, 3, 4] and all(r["epochs"] == 4 for r in records)
    assert all(r["loss"] is None for r in records[:-1])  # Spark hands back factors only at the end
    assert records[-1]["loss"] == pytest.approx(spark.ials_loss(model)) and records[-1]["loss"] > 0
    assert model.history_ == records
    assert model.engine_["name"] == "spark" and model.engine_["master"] == "local[2]"
    assert model.engine_["spark_version"] == spark.pyspark_version() and model.engine_["executors"] == 1
    assert model.engine_["cores"] == 2 and model.engine_["fit_seconds"] > 0
    assert model.user_factors_.shape == (full.n_users, 16) and model.item_factors_.shape == (full.n_items, 16)
    assert float(model.item_factors_[rare].abs().sum()) == 0.0  # no factor row: zeros
    assert float(model.item_factors_.abs().sum(1).min()) == 0.0 < float(model.user_factors_.abs().sum(1).min())

    # Spark's integer ids are ours: a rock listener is recommended rock bands, a jazz listener jazz
    recs = model.recommend_frame(["listener 0", "listener 1"], k=5)
    assert recs[recs["user"] == "listener 0"]["item"].str.startswith("rock").all()
    assert recs[recs["user"] == "listener 1"]["item"].str.startswith("jazz").all()
    similar, _ = model.similar_items(int(full.item_index(["rock band 3"])[0]), k=5)
    assert all(str(full.item_ids[i]).startswith("rock") for i in similar)
    because = model.explain(0, int(recs["item"].map(lambda a: full.item_index([a])[0]).iloc[0]), n=3)
    assert because and all(str(full.item_ids[item]).startswith("rock") for item, _ in because)

    # same save format: a folder that loads as ials, with the same factors and the same fold-in
    folder = model.save(tmp_path / "model")
    loaded = load_model(folder, kind="ials")
    assert type(loaded).__name__ == "ImplicitALS" and loaded.engine_["name"] == "spark"
    assert np.array_equal(loaded.item_factors_.numpy(), model.item_factors_.numpy())
    history = train.to_csr()[[0]]
    assert np.allclose(loaded.score_histories(history), model.score_histories(history), atol=1e-5)


def listening_addresses(pid: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp* writes them) of the TCP sockets process ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(fields[1].rsplit(":", 1)[0])
    return found


@pytest.mark.slow
@pytest.mark.spark
def test_a_local_session_listens_on_loopback_only(spark_session):
    addresses = listening_addresses(spark.session("local[2]", CONF).sparkContext._gateway.proc.pid)
    loopback = ("0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000")
    assert addresses and all(address in loopback for address in addresses), addresses


@pytest.mark.slow
@pytest.mark.spark
def test_stopping_cancels_the_spark_job_within_seconds_and_the_session_lives_on(spark_session):
    inter = Interactions.from_frame(listening_log(1), "listener", "artist", "plays")
    seen = []

    def on_epoch(record):
        seen.append((record["epoch"], time.perf_counter()))
        return True  # stop after the first iteration

    with pytest.raises(spark.SparkCancelled) as caught:
        spark.fit_ials(make_model("ials", factors=16, epochs=400), inter, on_epoch, master="local[2]", conf=CONF)
    stopped = time.perf_counter()
    assert [epoch for epoch, _ in seen] == [1] and caught.value.iterations == 1
    assert stopped - seen[0][1] < 10  # well within the wait after which the session would be stopped
    assert one_sentence(str(caught.value)) and "stopped after iteration 1 of 400" in str(caught.value)
    asked = {"n": 0}

    def should_stop() -> bool:  # the worker's cancel check, asked between iterations
        asked["n"] += 1
        return asked["n"] >= 2

    started = time.perf_counter()
    with pytest.raises(spark.SparkCancelled):
        spark.fit_ials(make_model("ials", factors=16, epochs=400), inter, master="local[2]", conf=CONF,
                       should_stop=should_stop)
    assert time.perf_counter() - started < 15
    # the same session (no new JVM) trains again afterwards
    model = spark.fit_ials(make_model("ials", factors=8, epochs=2), inter, master="local[2]", conf=CONF)
    assert model.engine_["session_seconds"] == 0.0 and model.is_fitted


# -- the real worker and the command line ----------------------------------------------------------
def start_worker(store: Store, env: dict[str, str] | None = None) -> subprocess.Popen:
    log = open(store.home / "logs" / f"worker-{time.time_ns()}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "worker", "--once"], stdout=log, stderr=subprocess.STDOUT,
                            cwd=store.home, env={**os.environ, "TASTEMAKER_HOME": str(store.home),
                                                 "PYTHONPATH": str(ROOT), **(env or {})})
    log.close()
    return proc


def wait_for(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.spark
def test_worker_trains_on_spark_cancels_and_fails_plainly_and_the_run_works_everywhere(store, tmp_path, capsys):
    """Through ``python -m recsys submit --engine spark`` and one real worker (one JVM for its runs): a run
    cancelled mid-fit, a run at an unreachable master, and the demo run, whose NDCG@10 lands within
    0.02 of a local ials with the same settings on the same split."""
    require_spark()
    from recsys import explore
    from recsys.evaluation import evaluate, fit_on_split
    from recsys.split import make_split

    demo = ROOT / "assets" / "datasets" / "ml-latest-small"
    settings = [arg for key, value in DEMO_SETTINGS.items() for arg in ("--set", f"{key}={value}")]

    def submit(*extra: str) -> int:
        assert cli.main(["submit", str(demo / "ratings.csv"), "--items", str(demo / "movies.csv"), "--model", "ials",
                         "--split", "random", "--seed", "42", "--engine", "spark", *CONF_ARGS, *extra]) == 0
        return int(capsys.readouterr().out.strip())

    to_cancel = submit("--set", "epochs=300", "--set", "factors=8")
    unreachable = submit("--master", f"spark://127.0.0.1:{closed_port()}")
    trained = submit(*settings)
    inter, catalog = store.load_dataset(store.run(trained)["dataset_id"])
    worker = start_worker(store)
    try:
        wait_for(lambda: store.run(to_cancel)["epochs_done"] >= 1, "the first Spark iteration", 240)
        asked = time.monotonic()
        jobs.cancel(store, to_cancel)
        wait_for(lambda: store.run(to_cancel)["status"] == "cancelled", "the cancel", 60)
        cancel_seconds = time.monotonic() - asked

        # meanwhile: local ials with the same settings on the same split, in this process
        split = make_split(inter, "random", seed=42)
        local = fit_on_split(make_model("ials", seed=42, **DEMO_SETTINGS), split, catalog=catalog)
        local_ndcg = evaluate(local, split, k=10, catalog=catalog).summary["ndcg"]

        assert worker.wait(timeout=600) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert cancel_seconds < 30, cancel_seconds
    assert store.run(to_cancel)["error"].startswith("Cancelled after epoch")

    failed = store.run(unreachable)
    assert failed["status"] == "failed" and one_sentence(failed["error"])
    assert "Cannot reach the Spark master" in failed["error"]
    assert failed["finished_at"] - failed["started_at"] < 60

    run = store.run(trained)
    assert run["status"] == "done", run["error"]
    print(f"demo NDCG@10: Spark {run['summary']['ndcg']:.4f}, local {local_ndcg:.4f}; cancelled in "
          f"{cancel_seconds:.1f} s; Spark fits {run['engine'].get('fit_seconds')} s and "
          f"{run['engine'].get('serving_fit_seconds')} s, session {run['engine'].get('session_seconds')} s")
    assert abs(run["summary"]["ndcg"] - local_ndcg) <= 0.02, (run["summary"]["ndcg"], local_ndcg)
    engine = run["engine"]
    assert engine["name"] == "spark" and engine["master"] == "local[2]" and engine["conf"] == CONF
    assert engine["spark_version"] == spark.pyspark_version() and engine["executors"] == 1 and engine["cores"] == 2
    assert engine["fit_seconds"] > 0 and engine["serving_fit_seconds"] > 0 and engine["reg_param"] > 0
    assert trained not in [r["id"] for r in store.run_costs()]  # the cluster's times calibrate no local estimate
    assert store.baseline_run(run["dataset_id"], "random", 42) in [r["id"] for r in store.run_costs()]
    epochs = store.epochs(trained)
    assert list(epochs["epoch"]) == list(range(1, DEMO_SETTINGS["epochs"] + 1))
    assert epochs["loss"].iloc[-1] > 0 and epochs["validation"].iloc[-1] > 0.1  # scored on the validation part

    # the serving model (every interaction) works on every page's functions
    serving = store.load_run_model(trained)
    assert type(serving).__name__ == "ImplicitALS" and serving.n_users_ == inter.n_users
    titles = explore.item_labels(serving.item_ids_, catalog)
    toy_story = int(np.flatnonzero(titles["title"].str.startswith("Toy Story (1995)"))[0])
    alike = explore.more_like_this(serving, toy_story, catalog, k=10)
    assert len(alike) == 10 and alike["similarity"].between(-1, 1).all()
    heat = explore.item_similarity_heatmap(serving, explore.popular_items(serving, 8), catalog)
    assert heat.shape == (8, 8) and np.allclose(np.diag(heat.to_numpy()), 1.0, atol=1e-4)
    picks = explore.recommendations_for_user(serving, inter.user_ids[0], catalog, k=10)
    seen = set(inter.items[inter.users == 0].tolist())
    assert len(picks) == 10 and not seen & set(picks["item"].tolist())
    assert picks["because"].str.startswith("Because you liked").any()
    persona = explore.persona_recommendations({"ials": serving}, list(alike["item_id"][:3]), catalog, k=5)
    assert len(persona.frame) == 5 and not persona.problems
    stored = store.run_recommendations(trained)
    assert stored["user"].nunique() == inter.n_users

    # Results says where it trained: Spark, not this machine's CPU
    from recsys import leaderboard
    runs = leaderboard.leaderboard_runs(store.list_runs(run["dataset_id"]), "random", 42)
    board = leaderboard.leaderboard(runs, {int(i): store.load_evaluation(int(i)) for i in runs["id"]},
                                    metrics=["ndcg"], n_resamples=50)
    devices = dict(zip(board["run_id"], board["device"], strict=True))
    assert devices[trained] == "spark" and devices[store.baseline_run(run["dataset_id"], "random", 42)] == "cpu"
    assert leaderboard.leaderboard_table(board).loc[lambda t: t["Device"] == "SPARK"].shape[0] == 1


@pytest.mark.slow
@pytest.mark.spark
def test_cli_trains_on_spark_and_a_java_that_cannot_start_gives_one_sentence(tmp_path):
    require_spark()
    data = tmp_path / "plays.csv"
    listening_log(2).to_csv(data, index=False)
    out = tmp_path / "model"
    done = run_cli("train", str(data), "--model", "ials", "--set", "epochs=3", "--set", "factors=8",
                   "--engine", "spark", *CONF_ARGS, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "epoch 3/3: loss" in done.stderr and "on Spark (local[2])" in done.stdout
    assert "\tat " not in done.stderr and "Exception" not in done.stderr  # Spark's own output goes to its log
    info = json.loads((out / "train.json").read_text())
    assert info["engine"]["name"] == "spark" and info["engine"]["spark_version"] == spark.pyspark_version()
    model = load_model(out, kind="ials")
    recs = model.recommend_frame(["listener 0"], k=5)
    assert recs["item"].str.startswith("rock").all()

    fake = tmp_path / "broken-java" / "bin"  # a Java that says 17 but cannot start anything
    fake.mkdir(parents=True)
    (fake / "java").write_text('#!/bin/sh\necho \'openjdk version "17.0.9"\' >&2\nexit 1\n')
    (fake / "java").chmod(0o755)
    failed = run_cli("train", str(data), "--model", "ials", "--engine", "spark", "--out", str(tmp_path / "x"),
                     env={"JAVA_HOME": str(fake.parent), "TASTEMAKER_SPARK_LOG": str(tmp_path / "spark.log")})
    assert failed.returncode == 2 and "Java could not start Spark" in failed.stderr, failed.stderr
    assert one_sentence(failed.stderr) and str(tmp_path / "spark.log") in failed.stderr
    assert not (tmp_path / "x").exists()


def test_no_java_on_the_path_is_one_sentence_before_anything_starts(tmp_path, monkeypatch, capsys):
    """No JAVA_HOME and a PATH pointing nowhere (the worker test points JAVA_HOME nowhere instead)."""
    require_spark()
    data = tmp_path / "plays.csv"
    listening_log(5).to_csv(data, index=False)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-java"))
    started = time.monotonic()
    assert cli.main(["train", str(data), "--model", "ials", "--engine", "spark", "--master", "local[3]",
                     "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Spark needs Java") and "no java was found on the PATH" in err
    assert one_sentence(err) and time.monotonic() - started < 30 and not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.spark
def test_worker_without_java_fails_the_run_in_one_sentence(store, tmp_path):
    require_spark()
    data = tmp_path / "plays.csv"
    listening_log(3).to_csv(data, index=False)
    run_id = jobs.submit(store, store.add_dataset(data), "ials", {"epochs": 2}, engine="spark", spark_conf=CONF)
    worker = start_worker(store, env={"JAVA_HOME": str(tmp_path / "nowhere")})
    assert worker.wait(timeout=180) == 0
    run = store.run(run_id)
    assert run["status"] == "failed" and one_sentence(run["error"]), run["error"]
    assert run["error"].startswith("Spark needs Java 17 or 21")
    assert run["finished_at"] - run["started_at"] < 60


def test_train_page_offers_spark_with_the_advice_and_queues_a_spark_run(tmp_path, monkeypatch, open_app):
    """The Train page (a real Streamlit script run by AppTest): the engine is offered when Spark is
    installed, with the master URL and the plain advice; only ials is sent to Spark. The master here
    answers nothing, so the worker the page starts fails the run at once, in one sentence."""
    require_spark()
    monkeypatch.setenv("TASTEMAKER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SPARK_MASTER", raising=False)
    monkeypatch.chdir(ROOT)
    at = open_app("pages/train.py")
    store = Store()
    demo = int(store.list_datasets().iloc[0]["id"])
    engine = at.radio(key="train_engine")
    assert engine.value == "local" and engine.options == ["This machine", "Apache Spark"]
    assert not [w for w in at.text_input if w.key == "train_spark_master"]
    at.multiselect(key=f"models_{demo}").set_value(["ials", "itemknn"]).run()
    at.radio(key="train_engine").set_value("spark").run()
    assert not at.exception and not at.error
    captions = " ".join(c.value for c in at.caption)
    assert "Spark is for scale, not for speed on small data" in captions
    assert "Only Implicit ALS trains on Spark" in captions
    master = at.text_input(key="train_spark_master")
    assert master.value == "local[2]"
    estimate = at.get("dataframe")[0].value
    assert list(estimate["Runs on"]) == ["Spark", "CPU"]
    master.set_value(f"spark://127.0.0.1:{closed_port()}").run()
    at.selectbox(key=f"protocol_{demo}").set_value("random").run()
    at.button(key="start_training").click().run()
    assert not at.exception and not at.error
    try:
        runs = {r["model"]: r for r in store.run_records(dataset_id=demo) if not r["is_baseline"]}
        assert runs["ials"]["engine"]["name"] == "spark" and runs["itemknn"]["engine"] == {"name": "local"}
        wait_for(lambda: store.run(runs["ials"]["id"])["status"] == "failed", "the Spark run to fail", 120)
        assert "Cannot reach the Spark master" in store.run(runs["ials"]["id"])["error"]
    finally:
        for worker in jobs.worker_state(store)["workers"]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(worker["pid"]), signal.SIGTERM)
