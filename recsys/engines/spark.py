"""Training ``ials`` on Apache Spark (MLlib ALS), brought back as an ordinary ``ials`` model.

Spark is for scale, not for speed on small data: starting the JVM and planning the jobs costs seconds that
a one-machine ALS spends finishing the whole fit. It is optional; pyspark is imported only here, and only
when a Spark fit or session is asked for.

**Data.** Spark reads Parquet of our numbered ``(user, item, rating)`` triplets (the training matrix of
:meth:`~recsys.models.base.Recommender.begin_fit`: duplicate pairs summed, ``rating`` 1 when ``binary``),
so Spark's integer ids are ours. With a ``local`` master the file is written to a temporary folder Spark
reads directly; with a cluster the rows go through the driver (:func:`_ratings_frame`).

**Settings, ours -> ``ALS(implicitPrefs=True, ...)``.** ``factors`` -> ``rank``, ``epochs`` ->
``maxIter``, ``seed`` -> ``seed``, ``alpha`` -> ``alpha``: both engines weight an interaction by the
confidence ``1 + alpha * r`` and fit the preference 1 (Spark's ``c = 1 + alpha * |r|``, ``p = [r > 0]``).
The regularisation differs in kind: ours adds ``regularization * |x_u|^2`` for every user (and item);
Spark's (ALS-WR, Zhou et al. 2008) adds ``regParam * n_u * |x_u|^2`` with ``n_u`` the user's number of
interactions (``n_i`` for an item). :func:`spark_reg_param` gives the user side the same total penalty
weight: ``regParam = regularization * n_users / nnz`` (our setting over the mean count per user). Spark
then regularises heavy users more, and items (fewer interactions each than users, on most data) less,
than ours. On the demo (random 20% held out per person, rank 64, 15 iterations, our regularisation 20)
Spark's NDCG@10 peaks near this ``regParam`` (0.15) and lands within 0.01 of a local fit; the sweep is in
``docs/scale-out.md``, the check in ``tests/test_spark.py``.
``cg_steps`` and ``init_scale`` have no counterpart: Spark solves each least-squares problem exactly
(Cholesky) and draws its own starting factors. Users or items without a factor row (never in training)
get zeros.

**Progress.** Spark hands back factors only when the fit ends, so each iteration is reported (to the
same ``on_epoch`` as a local fit) when the Spark job that needs its factors finishes: in implicit mode
every half-step runs one ``aggregate`` job (the Gram matrix of the fixed side), so ``2 i + 1`` finished
aggregates mean ``i`` finished iterations. Those records carry no loss; the last one carries the loss of
the final factors in ``ials``'s own objective (:func:`ials_loss`, comparable with a local fit) and the
validation score. Stopping (``on_epoch`` returning True, or ``should_stop()``) cancels the Spark jobs
within :data:`CANCEL_WAIT_SECONDS` and raises :class:`SparkCancelled`.

**Failures** (Java missing, a master URL Spark cannot read or reach, an executor lost, out of memory)
raise :class:`SparkError` with one plain sentence, never a Java stack trace.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from recsys.data import Catalog, Interactions
from recsys.models.als import ImplicitALS
from recsys.models.base import ModelError
from recsys.training import EpochCallback, TrainingStopped, validation_ndcg

DEFAULT_MASTER = "local[2]"
POLL_SECONDS = 0.25  # how often the Spark job's progress is read
STOP_POLL_SECONDS = 1.0  # how often ``should_stop`` is asked
CANCEL_WAIT_SECONDS = 20.0  # after a cancel, how long Spark's jobs get to stop before the session is stopped
REACH_SECONDS = 3.0  # a standalone master that does not accept a connection in this time is unreachable
JAVA_VERSIONS = (17, 21)

# Session settings for a local master: loopback only, no web UI, quiet, Arrow for conversions. A user's
# own settings (``conf``) override these.
LOCAL_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "2g",
}
COMMON_CONF = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{Path(__file__).with_name('log4j2.properties')}",
}

_MASTER_PATTERNS = (
    r"local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?",
    r"local-cluster\[\d+,\s*\d+,\s*\d+\]",
    r"spark://[^\s,/:]+:\d{1,5}(,[^\s,/:]+:\d{1,5})*",
    r"yarn",
    r"k8s://\S+",
)


class SparkError(ModelError):
    """Spark could not train: one plain sentence saying what went wrong and what to do."""


class SparkCancelled(SparkError, TrainingStopped):
    """The caller asked a Spark fit to stop; its jobs were cancelled (``iterations``: how many finished)."""

    def __init__(self, iterations: int, total: int) -> None:
        self.iterations, self.total = iterations, total
        super().__init__(f"Training on Spark was stopped after iteration {iterations} of {total}.")


# -- what is installed --------------------------------------------------------------------------
def pyspark_installed() -> bool:
    """Whether pyspark can be imported (without importing it)."""
    return importlib.util.find_spec("pyspark") is not None


def java_executable() -> str | None:
    """The ``java`` Spark would start: ``$JAVA_HOME/bin/java`` when ``JAVA_HOME`` is set (as Spark's
    launcher does), else the first ``java`` on the ``PATH``; None when there is none."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        return str(candidate) if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


_java_versions: dict[str, int | None] = {}


def java_version(java: str) -> int | None:
    """The major version ``java -version`` reports (8 for ``1.8``), or None when it cannot tell."""
    if java not in _java_versions:
        try:
            out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
            match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
        except (OSError, subprocess.SubprocessError):
            match = None
        major = None if match is None else int(match.group(1))
        if major == 1 and match.group(2):
            major = int(match.group(2))
        _java_versions[java] = major
    return _java_versions[java]


def java_problem() -> str | None:
    """Why Spark cannot start Java here, in one sentence; None when a Java 17+ is found."""
    java = java_executable()
    wanted = " or ".join(str(v) for v in JAVA_VERSIONS)
    if java is None:
        home = os.environ.get("JAVA_HOME")
        if home:
            return (f"Spark needs Java {wanted}, but JAVA_HOME ({home}) holds no bin/java: point JAVA_HOME at a "
                    "Java installation or unset it.")
        return (f"Spark needs Java {wanted} and no java was found on the PATH: install it with `make spark` "
                "(Debian's default-jre-headless) or set JAVA_HOME.")
    version = java_version(java)
    if version is None:
        return f"Spark needs Java {wanted}, but {java} did not say which version it is: check `{java} -version`."
    if version < min(JAVA_VERSIONS):
        return f"Spark needs Java {wanted}, but {java} is Java {version}: install a newer one (`make spark`) or set JAVA_HOME."
    return None


def installed() -> bool:
    """Whether Spark can be offered here: pyspark importable and a Java 17+ found."""
    return pyspark_installed() and java_problem() is None


def pyspark_version() -> str | None:
    """The installed pyspark's version, read without importing it; None when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pyspark")
    except PackageNotFoundError:
        return None


# -- settings -----------------------------------------------------------------------------------
def default_master() -> str:
    """``SPARK_MASTER`` when set, else ``local[2]``."""
    return os.environ.get("SPARK_MASTER", "").strip() or DEFAULT_MASTER


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def check_master(master: str) -> str:
    """``master`` stripped, when Spark can read it; ``SparkError`` in one sentence otherwise."""
    url = str(master or "").strip()
    if not any(re.fullmatch(pattern, url) for pattern in _MASTER_PATTERNS):
        raise SparkError(
            f"Spark cannot use the master URL {url!r}: use local[N] (N cores of this machine), spark://HOST:PORT "
            "(a standalone cluster), yarn, or k8s://https://HOST:PORT."
        )
    return url


def check_conf(conf: Mapping[str, Any] | Sequence[str]) -> dict[str, str]:
    """Spark settings as ``{key: value}`` text, from a mapping or ``["key=value", ...]``; ``SparkError``
    naming the first one that is not ``spark.something=value`` (the master has its own option)."""
    pairs = conf.items() if isinstance(conf, Mapping) else [str(p).partition("=")[::2] for p in conf]
    out: dict[str, str] = {}
    for key, value in pairs:
        key = str(key).strip()
        if not re.fullmatch(r"spark\.[A-Za-z0-9_.\-]+", key) or str(value).strip() == "":
            raise SparkError(f"A Spark setting must read spark.NAME=VALUE (e.g. spark.executor.memory=8g), got {key}={value!s}.")
        if key == "spark.master":
            raise SparkError("Give the Spark master with --master (or the master field), not as spark.master.")
        out[key] = str(value).strip()
    return out


def _check_reachable(master: str) -> None:
    """A standalone master must accept a TCP connection on one of its addresses (Spark itself would keep
    retrying for a minute before giving up)."""
    if not master.startswith("spark://"):
        return
    failures = []
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=REACH_SECONDS):
                return
        except OSError as exc:
            failures.append(exc.strerror or type(exc).__name__)
    raise SparkError(f"Cannot reach the Spark master at {master} ({failures[0].lower() if failures else 'no address'}): "
                     "check the address and that the master is running.")


# -- the session --------------------------------------------------------------------------------
_session: dict[str, Any] = {}  # key, spark, info: this process's one Spark session


def session(master: str | None = None, conf: Mapping[str, str] | None = None):
    """This process's Spark session for ``master`` (default :func:`default_master`) and ``conf``: the
    running one when both match, else a new one (the old one stopped). Raises :class:`SparkError`."""
    master = check_master(master or default_master())
    conf = check_conf(conf or {})
    key = (master, tuple(sorted(conf.items())))
    spark = _session.get("spark")
    if spark is not None and _session["key"] == key and _alive(spark):
        return spark
    if not pyspark_installed():
        raise SparkError("Spark is not installed: `make spark` installs it (pyspark and Java).")
    problem = java_problem()
    if problem:
        raise SparkError(problem)
    _check_reachable(master)
    stop_session()
    settings = {**COMMON_CONF, **(LOCAL_CONF if is_local(master) else {}), **conf}
    started = time.perf_counter()
    with _quiet(), _jvm_output(log_path()):
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.master(master).appName("Tastemaker")
        for name, value in settings.items():
            builder = builder.config(name, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001 - every failure becomes one sentence
            raise SparkError(failure_sentence(exc, "starting Spark", master)) from exc
    spark.sparkContext.setLogLevel("ERROR")
    _session.update(key=key, spark=spark, started=time.perf_counter() - started, master=master)
    return spark


def stop_session() -> None:
    """Stop this process's Spark session, if any (its JVM's work ends; the next :func:`session` starts anew).
    When the JVM itself is gone (killed, out of memory), pyspark's link to it is dropped too, so the
    next session launches a new JVM."""
    spark = _session.pop("spark", None)
    _session.clear()
    if spark is None:
        return
    alive = _alive(spark)
    with contextlib.suppress(Exception):
        spark.stop()
    if not alive:  # forget the dead JVM, or the next session would be handed this one's pieces
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        SparkContext._gateway = SparkContext._jvm = SparkContext._active_spark_context = None
        SparkSession._instantiatedSession = SparkSession._activeSession = None


def _jvm_gone(sc, wait: float = 5.0) -> bool:
    """Whether the JVM this process started for Spark has exited (killed, out of memory), waiting up to
    ``wait`` seconds for one that no longer answers to finish exiting."""
    proc = getattr(getattr(sc, "_gateway", None), "proc", None)
    if proc is None:
        return False
    try:
        sc._jsc.sc().isStopped()
        return False  # it answers
    except Exception:  # noqa: BLE001 - not answering: see whether the process is gone
        pass
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return False
    return True


def _alive(spark) -> bool:
    """Whether the session's JVM answers and its context is not stopped."""
    try:
        return not spark.sparkContext._jsc.sc().isStopped()
    except Exception:  # noqa: BLE001 - a JVM that does not answer is not alive
        return False


atexit.register(stop_session)


def session_info(spark) -> dict[str, Any]:
    """What a run records about where it trained: engine, master, Spark and Java versions, executors
    (for a local master: 1, the driver itself) and cores (default parallelism), and the seconds the
    session took to start (0 when it was already running)."""
    sc = spark.sparkContext
    master = sc.master
    status = sc._jsc.sc().getExecutorMemoryStatus().size()  # the driver included
    java = java_executable()
    return {
        "name": "spark",
        "master": master,
        "spark_version": spark.version,
        "java_version": java_version(java) if java else None,
        "executors": 1 if is_local(master) else max(0, status - 1),
        "cores": int(sc.defaultParallelism),
        "session_seconds": round(float(_session.pop("started", 0.0)), 3),
    }


def log_path() -> Path:
    """Where Spark's own output goes (the JVM's stdout and stderr: its log, warnings and stack traces):
    ``TASTEMAKER_SPARK_LOG`` when set, else ``tastemaker-spark-<uid>.log`` in the temporary folder."""
    given = os.environ.get("TASTEMAKER_SPARK_LOG")
    return Path(given) if given else Path(tempfile.gettempdir()) / f"tastemaker-spark-{os.getuid()}.log"


@contextlib.contextmanager
def _jvm_output(path: Path) -> Iterator[None]:
    """Point this process's stdout and stderr at ``path`` while the JVM starts, so the JVM (a child
    process that inherits them) writes there for its whole life; restored afterwards. A terminal or
    the worker log then shows Tastemaker's one-line messages, not Spark's log or Java stack traces."""
    import sys

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        yield  # no log file: the JVM writes where this process does
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """pyspark warns on import that pandas >= 3 is not fully supported; Tastemaker converts through Arrow."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not yet fully support pandas.*")
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark.*")
        yield


# -- the mapping --------------------------------------------------------------------------------
def spark_reg_param(regularization: float, user_items: sp.csr_matrix) -> float:
    """Spark's ``regParam`` for our ``regularization``: the same total penalty weight on the user side,
    ``regParam * sum_u n_u = regularization * n_users``, i.e. ``regularization`` divided by the mean
    number of interactions per user (Spark multiplies ``regParam`` by each user's count; see the module
    docstring). Users without interactions are not counted."""
    counts = np.diff(sp.csr_matrix(user_items).indptr)
    active = int((counts > 0).sum())
    return float(regularization) * max(1, active) / max(1, int(counts.sum()))


def als_params(model: ImplicitALS, user_items: sp.csr_matrix, blocks: int) -> dict[str, Any]:
    """The keyword arguments of ``pyspark.ml.recommendation.ALS`` for ``model``'s settings on ``user_items``."""
    return {
        "implicitPrefs": True, "rank": int(model.factors), "maxIter": int(model.epochs),
        "regParam": spark_reg_param(model.regularization, user_items), "alpha": float(model.alpha),
        "seed": int(model.seed), "numUserBlocks": int(blocks), "numItemBlocks": int(blocks),
        "userCol": "user", "itemCol": "item", "ratingCol": "rating", "nonnegative": False,
        "checkpointInterval": 10,
    }


def ials_loss(model: ImplicitALS, block: int = 2**18) -> float:
    """The training loss of ``model``'s factors in ``ials``'s own objective (what a local fit reports,
    see :meth:`ImplicitALS._loss`): weighted squared error plus ``regularization * (|X|^2 + |Y|^2)``,
    divided by ``n_users * n_items + sum(c) - nnz``."""
    x = model.user_factors_.double().cpu()
    y = model.item_factors_.double().cpu()
    csr = sp.csr_matrix(model.user_items_)
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    r = np.ones(csr.nnz) if model.binary else csr.data.astype(np.float64)
    c = torch.from_numpy(1.0 + float(model.alpha) * r)
    observed = 0.0
    for start in range(0, csr.nnz, block):  # by blocks of cells: no nnz x factors temporary
        u = torch.from_numpy(rows[start : start + block])
        i = torch.from_numpy(csr.indices[start : start + block].astype(np.int64))
        s = (x[u] * y[i]).sum(1)
        cc = c[start : start + block]
        observed += float((cc - 2.0 * cc * s + (cc - 1.0) * s * s).sum())
    dense = float(((x.T @ x) * (y.T @ y)).sum())
    penalty = float(model.regularization) * float((x * x).sum() + (y * y).sum())
    cells = model.n_users_ * model.n_items_ + float(c.sum()) - csr.nnz
    return (dense + observed + penalty) / cells


# Measured on 2 shared cores (local[2], Spark 4.3, Java 17; docs/scale-out.md): a session starts in
# 8-18 s and the first fit spends ~10 s on planning and warm-up before its first iteration; an iteration
# at rank 64 takes ~1 s on the demo's 80k interactions and ~39 s (26-70 s) on 10M.
SESSION_SECONDS = 15.0
FIT_OVERHEAD_SECONDS = 8.0
OPERATIONS_PER_CORE_SECOND = 1.3e9
CLUSTER_CORES_GUESS = 8


def cores_of(master: str, conf: Mapping[str, str] | None = None) -> int:
    """The cores a master offers, as far as the URL and settings tell: N for ``local[N]``, this machine's
    count for ``local[*]``, executors x cores per executor when ``conf`` says, else a guess of 8."""
    match = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master)
    if match:
        return (os.cpu_count() or 1) if match.group(1) == "*" else int(match.group(1) or 1)
    conf = conf or {}
    try:
        return int(conf["spark.executor.instances"]) * int(conf.get("spark.executor.cores", 1))
    except (KeyError, ValueError):
        return CLUSTER_CORES_GUESS


def estimate_seconds(n_users: int, n_items: int, nnz: int, params: Mapping[str, Any], master: str,
                     conf: Mapping[str, str] | None = None) -> float:
    """Rough seconds a run's two Spark fits take (the evaluated one on about 80% of the rows, the
    serving refit on all), session start included: per iteration the normal equations
    (``2 nnz k^2``) and the solves (``(n_users + n_items) k^3 / 3``) at 1.3e9 operations per core second,
    plus 0.5 s of scheduling; constants measured on 2 cores (see above)."""
    k, epochs = int(params.get("factors") or 64), int(params.get("epochs") or 15)
    per_iteration = 0.5 + (2.0 * nnz * k * k + (n_users + n_items) * k**3 / 3) / (
        cores_of(master, conf) * OPERATIONS_PER_CORE_SECOND)
    return SESSION_SECONDS + 2 * (FIT_OVERHEAD_SECONDS + epochs * per_iteration)


# -- fitting ------------------------------------------------------------------------------------
def fit_ials(
    model: ImplicitALS,
    train: Interactions,
    on_epoch: EpochCallback | None = None,
    *,
    validation: Interactions | None = None,
    validation_input: Interactions | None = None,
    catalog: Catalog | None = None,
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImplicitALS:
    """Fit ``model`` (an ``ials`` model) on Spark at ``master`` and return it with its factors filled,
    as ``model.fit`` would (same arguments). Per-iteration records go to ``on_epoch`` (see the module
    docstring); ``model.engine_`` records where it trained and the seconds each part took. Raises
    :class:`SparkError` (one sentence) when Spark fails, :class:`SparkCancelled` when asked to stop."""
    if not isinstance(model, ImplicitALS):
        raise SparkError(f"Only ials trains on Spark, not {getattr(model, 'name', type(model).__name__)}.")
    model.begin_fit(train, catalog)
    spark = session(master, conf)
    info = session_info(spark)
    csr = sp.csr_matrix(model.user_items_)
    params = als_params(model, csr, blocks=max(1, info["cores"]))
    started = time.perf_counter()
    with _quiet(), _staging(spark) as folder:
        from pyspark.ml.recommendation import ALS

        try:
            if folder is not None:
                spark.sparkContext.setCheckpointDir(str(folder / "checkpoints"))
            frame = _ratings_frame(spark, csr, bool(model.binary), folder)
            als = ALS(**params)
        except Exception as exc:  # noqa: BLE001 - every Spark failure becomes one sentence
            raise SparkError(failure_sentence(exc, "sending the data to Spark", info["master"])) from exc
        users, items, records = _fit_with_progress(spark, als, frame, model, on_epoch, should_stop, info)
    model.user_factors_ = torch.from_numpy(users).to(model.device_)
    model.item_factors_ = torch.from_numpy(items).to(model.device_)
    last, collected = records[-1], time.perf_counter()  # the last iteration: reported once its factors are here
    last["loss"] = ials_loss(model)
    if validation is not None and len(validation):
        last["validation"] = float(validation_ndcg(model, validation, history=validation_input)())
    last["seconds"] += time.perf_counter() - collected
    model.history_ = records
    info.update(fit_seconds=round(time.perf_counter() - started, 3), reg_param=params["regParam"],
                blocks=params["numUserBlocks"])
    model.engine_ = info
    model.check_learned_values()
    if on_epoch is not None:
        on_epoch(last)
    return model


@contextlib.contextmanager
def _staging(spark) -> Iterator[Path | None]:
    """A temporary local folder for the Parquet file and ALS's checkpoints with a local master (removed
    afterwards); None with a cluster, whose executors cannot read this machine's disk."""
    if not is_local(spark.sparkContext.master):
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="tastemaker-spark-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _ratings_frame(spark, csr: sp.csr_matrix, binary: bool, folder: Path | None):
    """A Spark DataFrame of ``(user int, item int, rating float)``: read from Parquet written into
    ``folder``, or (a cluster) sent through the driver from an Arrow table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int32), np.diff(csr.indptr))
    ratings = np.ones(csr.nnz, np.float32) if binary else csr.data.astype(np.float32)
    table = pa.table({"user": rows, "item": csr.indices.astype(np.int32), "rating": ratings})
    if folder is None:
        return spark.createDataFrame(table)
    path = folder / "ratings.parquet"
    pq.write_table(table, path)
    return spark.read.parquet(str(path))


def _fit_with_progress(spark, als, frame, model: ImplicitALS, on_epoch: EpochCallback | None,
                       should_stop: Callable[[], bool] | None, info: dict[str, Any]):
    """Run ``als.fit`` and the collection of its factors in a thread, in a job group of their own, while
    this thread reports finished iterations and honours stop requests (see the module docstring).
    Returns ``(user factors, item factors, records)``: every record but the last has been reported; the
    caller completes and reports the last one (its loss and validation need the factors)."""
    sc = spark.sparkContext
    group = f"tastemaker-{uuid.uuid4().hex[:12]}"
    total, rank = int(model.epochs), int(model.factors)
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            sc.setJobGroup(group, "Tastemaker ials", interruptOnCancel=True)
            fitted = als.fit(frame)
            result["users"] = _factor_array(fitted.userFactors, model.n_users_, rank)
            result["items"] = _factor_array(fitted.itemFactors, model.n_items_, rank)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            result["error"] = exc

    records: list[dict[str, Any]] = []
    tracker = _Progress(sc, group)
    thread = threading.Thread(target=work, name="tastemaker-spark-fit", daemon=True)
    last_mark = time.perf_counter()
    asked = time.perf_counter()
    thread.start()
    try:
        while thread.is_alive():
            thread.join(POLL_SECONDS)
            stop = False
            for _ in range(len(records), min(total - 1, tracker.iterations())):
                now = time.perf_counter()
                records.append(_record(len(records) + 1, total, now - last_mark))
                last_mark = now
                stop = bool(on_epoch(records[-1])) if on_epoch is not None else False
                if stop:
                    break
            info["executors"] = max(info["executors"], tracker.executors(info))
            if not stop and should_stop is not None and time.perf_counter() - asked >= STOP_POLL_SECONDS:
                asked = time.perf_counter()
                stop = bool(should_stop())
            if stop:
                _cancel(sc, group, thread)
                raise SparkCancelled(len(records), total)
    except BaseException:
        if thread.is_alive():  # a signal or an error of ours: Spark's jobs must not go on
            _cancel(sc, group, thread)
        raise
    if "error" in result:
        error = result["error"]
        raise SparkError(JVM_STOPPED.format(doing="training") if _jvm_gone(sc)
                         else failure_sentence(error, "training", sc.master)) from error
    for epoch in range(len(records) + 1, total):  # iterations that finished after the last look
        records.append(_record(epoch, total, 0.0))
        if on_epoch is not None:
            on_epoch(records[-1])
    records.append(_record(total, total, time.perf_counter() - last_mark))
    return result["users"], result["items"], records


def _record(epoch: int, total: int, seconds: float) -> dict[str, Any]:
    """One iteration's record, shaped as :func:`recsys.training.run_epochs` reports them."""
    return {"epoch": epoch, "epochs": total, "loss": None, "seconds": seconds, "validation": None,
            "metric": "ndcg@10", "engine": "spark"}


def _cancel(sc, group: str, thread: threading.Thread) -> None:
    """Cancel the group's jobs until the fit thread ends, and stop the session when Spark does not let
    go within :data:`CANCEL_WAIT_SECONDS`. Cancelling once is not enough: it reaches only the jobs
    running at that moment, and ALS starts new ones for every half-step."""
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    while thread.is_alive() and time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            sc.cancelJobGroup(group)
        thread.join(POLL_SECONDS)
    if thread.is_alive():
        stop_session()
        thread.join(CANCEL_WAIT_SECONDS)


class _Progress:
    """Reads a job group's finished ALS iterations from Spark's status tracker (each finished job is
    classified once, by the name of its last stage)."""

    def __init__(self, sc, group: str) -> None:
        self.sc, self.group = sc, group
        self.tracker = sc.statusTracker()
        self.aggregates: dict[int, bool] = {}

    def iterations(self) -> int:
        try:
            for job in self.tracker.getJobIdsForGroup(self.group):
                if job in self.aggregates:
                    continue
                info = self.tracker.getJobInfo(job)
                if info is None or info.status != "SUCCEEDED" or not info.stageIds:
                    continue
                stage = self.tracker.getStageInfo(max(info.stageIds))
                self.aggregates[job] = stage is not None and stage.name.startswith("aggregate at ALS")
        except Exception:  # noqa: BLE001 - progress is best effort; the fit's own error is what counts
            pass
        return max(0, (sum(self.aggregates.values()) - 1) // 2)

    def executors(self, info: dict[str, Any]) -> int:
        if is_local(info["master"]):
            return 1
        try:
            return max(0, self.sc._jsc.sc().getExecutorMemoryStatus().size() - 1)
        except Exception:  # noqa: BLE001
            return 0


def _factor_array(factors, n: int, rank: int) -> np.ndarray:
    """Spark's ``(id, features)`` factor table as an ``(n, rank)`` float32 array; rows Spark has no
    factor for (users or items without interactions) stay zero."""
    table = factors.toArrow()
    out = np.zeros((n, rank), np.float32)
    if table.num_rows:
        ids = table.column("id").to_numpy()
        features = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
        out[ids] = features.reshape(table.num_rows, rank)
    return out


# -- failures -----------------------------------------------------------------------------------
def _java_cause(exc: BaseException) -> tuple[str, str]:
    """``(class name, message)`` of the deepest Java cause of a Py4J error, else of ``exc`` itself."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        with contextlib.suppress(Exception):
            while java.getCause() is not None and java.getCause() != java:
                java = java.getCause()
            return str(java.getClass().getName()), str(java.getMessage() or "")
    return type(exc).__name__, str(exc)


JVM_STOPPED = ("Spark's Java process stopped while {doing} (it may have run out of memory or been killed): give "
               "it more memory (--spark-conf spark.driver.memory=8g) or check the machine's memory.")


def failure_sentence(exc: BaseException, doing: str, master: str = "") -> str:
    """One plain sentence for a Spark failure while ``doing``: what happened and what to do."""
    kind, message = _java_cause(exc)
    text = f"{kind} {message} {exc}".lower()
    if isinstance(exc, ConnectionError):  # raised in Python by py4j: the local JVM no longer takes calls
        return JVM_STOPPED.format(doing=doing)
    if "java_gateway_exited" in text or "java gateway process exited" in text:
        return ("Java could not start Spark (the Java process exited at once): check that `java -version` says "
                f"17 or 21, that JAVA_HOME (when set) points at it, and Spark's messages in {log_path()}.")
    if "py4jnetworkerror" in text or "answer from java side is empty" in text or "error while sending or receiving" in text:
        return JVM_STOPPED.format(doing=doing)
    if "could not parse master url" in text:
        return f"Spark cannot use the master URL {master!r}: use local[N], spark://HOST:PORT, yarn or k8s://https://HOST:PORT."
    if "executorlostfailure" in text or "executor lost" in text or "heartbeat timed out" in text:
        return (f"Spark lost an executor while {doing} (a worker stopped or ran out of memory): check the "
                "cluster's workers, or give executors more memory (--spark-conf spark.executor.memory=8g).")
    if "outofmemoryerror" in text or "java heap space" in text or "gc overhead" in text:
        return (f"Spark ran out of memory while {doing}: give it more (--spark-conf spark.driver.memory=8g, "
                "or spark.executor.memory on a cluster) or use fewer factors.")
    if "sparkcontext was shut down" in text or "stopped sparkcontext" in text or "sparkcontext has been stopped" in text:
        return (f"The Spark application was shut down while {doing} (the master stopped it or became "
                f"unreachable{' at ' + master if master else ''}): check the cluster and try again.")
    first = " ".join((message or str(exc)).split("\n\tat ")[0].split())[:200] or "no message"
    return f"Spark failed while {doing}: {kind.rsplit('.', 1)[-1]}: {first}."
