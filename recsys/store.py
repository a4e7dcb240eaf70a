"""The run store: every dataset, training run, epoch, metric, model and recommendation list, on disk.

One data folder (``TASTEMAKER_HOME``, default ``./tastemaker-data``) holds ``tastemaker.db`` (SQLite in
WAL mode) and the files:

* ``datasets/<id>/interactions.parquet`` (the interactions in the file's own ids) and, when given,
  ``datasets/<id>/catalog.parquet``;
* ``runs/<id>/model/`` (arrays + JSON, see :meth:`recsys.models.base.Recommender.save`),
  ``runs/<id>/evaluation.json`` (summary and confidence intervals), ``runs/<id>/per_user.npz`` (per-user
  metric arrays) and ``runs/<id>/recommendations.parquet`` (top 20 per user);
* ``logs/`` (worker log, one traceback file per failed run; for engineers, never shown as a message).

Every write is atomic (a temp file in the same folder, fsync, ``os.replace``), every database change is
one transaction, and every method opens its own short-lived connection, so a ``Store`` can be shared by
threads and processes. Names of uploaded files are kept as text only; paths are built from ids.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import Catalog, Interactions
from recsys.reading import open_regular_file

SCHEMA_VERSION = 1
DB_NAME = "tastemaker.db"
BUSY_TIMEOUT_MS = 30_000
RECOMMENDATIONS_K = 20
STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINISHED = ("done", "failed", "cancelled", "interrupted")
UPLOAD_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", ".parquet", ".json", ".jsonl", ".xlsx", ".gz", ".zip")

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE datasets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        source_name TEXT NOT NULL DEFAULT '',
        content_hash TEXT NOT NULL,
        columns TEXT NOT NULL DEFAULT '{}',
        report TEXT NOT NULL DEFAULT '{}',
        explicit INTEGER NOT NULL DEFAULT 0,
        n_users INTEGER NOT NULL,
        n_items INTEGER NOT NULL,
        n_interactions INTEGER NOT NULL,
        has_timestamps INTEGER NOT NULL DEFAULT 0,
        has_catalog INTEGER NOT NULL DEFAULT 0,
        is_demo INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX datasets_hash ON datasets(content_hash);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        protocol TEXT NOT NULL,
        seed INTEGER NOT NULL,
        k INTEGER NOT NULL DEFAULT 10,
        device_requested TEXT NOT NULL DEFAULT 'auto',
        device TEXT,
        status TEXT NOT NULL DEFAULT 'queued',
        phase TEXT,
        error TEXT,
        is_baseline INTEGER NOT NULL DEFAULT 0,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        worker_id TEXT,
        epochs_total INTEGER,
        estimate TEXT NOT NULL DEFAULT '{}',
        summary TEXT NOT NULL DEFAULT '{}',
        ci TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL
    );
    CREATE INDEX runs_status ON runs(status, id);
    CREATE INDEX runs_dataset ON runs(dataset_id);
    CREATE TABLE epochs (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        epochs INTEGER,
        loss REAL,
        validation REAL,
        metric TEXT,
        seconds REAL,
        extra TEXT NOT NULL DEFAULT '{}',
        at REAL NOT NULL,
        PRIMARY KEY (run_id, epoch)
    );
    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        device TEXT,
        state TEXT NOT NULL DEFAULT 'starting',
        run_id INTEGER,
        started_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL
    );
    """,
}


class StoreError(ValueError):
    """Something asked of the store does not exist or cannot be done; the message says which."""


def default_home() -> Path:
    """``TASTEMAKER_HOME`` when set, else ``./tastemaker-data``."""
    return Path(os.environ.get("TASTEMAKER_HOME") or "tastemaker-data").expanduser().resolve()


# -- atomic files ---------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` all-or-nothing: ``write(tmp)`` fills a temp file in the same folder, which is
    fsynced and renamed over ``path``. A crash leaves the old file (or none), never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _fsync_tree(path: Path) -> None:
    """fsync every file under ``path`` and the folders themselves (after a directory rename)."""
    for p in path.rglob("*"):
        if p.is_file():
            with open(p, "rb+") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)
    _fsync_dir(path.parent)


def remove_tree(path: Path) -> None:
    """Rename ``path`` aside, then delete it, so no half-deleted folder is ever visible under its name."""
    if not path.exists():
        return
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{time.monotonic_ns()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _json(value: Any) -> str:
    return json.dumps(value, default=_json_default, allow_nan=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _clean(value: Any) -> Any:
    """Replace NaN/inf with None, recursively, so JSON stays standard."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return _finite(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    return value


class Store:
    """The data folder: an SQLite database (WAL) plus write-once dataset files and per-run files."""

    def __init__(self, home: str | os.PathLike | None = None) -> None:
        self.home = Path(home).expanduser().resolve() if home is not None else default_home()
        self.home.mkdir(parents=True, exist_ok=True)
        for sub in ("datasets", "runs", "logs"):
            (self.home / sub).mkdir(exist_ok=True)
        self.db_path = self.home / DB_NAME
        self._migrate()

    def __repr__(self) -> str:
        return f"Store({str(self.home)!r})"

    # -- connections -----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh autocommit connection, closed on exit (reads need no transaction in WAL mode)."""
        conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection inside ``BEGIN IMMEDIATE``: committed on success, rolled back on error.
        Immediate means the write lock is taken up front, so read-then-write sequences cannot race."""
        conn = self._open()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _migrate(self) -> None:
        conn = self._open()
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
                version = row[0] or 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"The data folder {self.home} was written by a newer Tastemaker "
                        f"(schema {version}); update Tastemaker to open it."
                    )
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[target].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    def schema_version(self) -> int:
        with self.connect() as conn:
            return int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    # -- paths -----------------------------------------------------------------------------------
    def dataset_dir(self, dataset_id: int) -> Path:
        return self.home / "datasets" / str(int(dataset_id))

    def run_dir(self, run_id: int) -> Path:
        return self.home / "runs" / str(int(run_id))

    def log_path(self, name: str) -> Path:
        return self.home / "logs" / name

    # -- datasets --------------------------------------------------------------------------------
    def add_dataset(
        self,
        source: str | os.PathLike | bytes,
        name: str | None = None,
        columns: dict[str, str] | None = None,
        items: str | os.PathLike | bytes | None = None,
        source_name: str | None = None,
    ) -> int:
        """Register an interactions file (a path, or the uploaded bytes) and return its dataset id.

        The same bytes (sha256) uploaded again, with no column mapping or the same one, return the
        existing id. ``columns`` maps roles (user, item, rating, time) to column names; ``items`` is an
        optional item catalogue. Raises :class:`DataError` when the file cannot be used."""
        from recsys.data import catalog_coverage, load_interactions

        raw, _, label = _read_source(source, source_name)
        content_hash = hashlib.sha256(raw).hexdigest()
        wanted = _clean(dict(columns)) if columns else None
        existing = self._find_dataset(content_hash, wanted)
        if existing is not None:
            return existing
        inter = load_interactions(_named_bytes(raw, label), columns=columns)
        catalog = self._load_catalog(items) if items is not None else None
        if catalog is not None and inter.report is not None:
            inter.report.add_catalog(catalog_coverage(catalog, inter))  # coverage, and `content` shortlisted
        report = _report_dict(inter)
        used_columns = wanted or _clean(dict(report.get("columns") or {}))
        return self._register(
            inter, catalog, name=name or _display_name(label), source_name=label,
            content_hash=content_hash, columns=used_columns, report=report, is_demo=False,
        )

    def add_interactions(
        self,
        inter: Interactions,
        name: str,
        catalog: Catalog | None = None,
        content_hash: str | None = None,
        columns: dict[str, str] | None = None,
        is_demo: bool = False,
    ) -> int:
        """Register already-loaded interactions (e.g. the demo). With ``content_hash`` given, an existing
        dataset with that hash is returned instead of a copy."""
        frame = inter.to_frame(original_ids=True)
        content_hash = content_hash or _frame_hash(frame)
        existing = self._find_dataset(content_hash, None)
        if existing is not None:
            return existing
        report = _report_dict(inter)
        return self._register(
            inter, catalog, name=name, source_name=name, content_hash=content_hash,
            columns=_clean(dict(columns or report.get("columns") or {})), report=report, is_demo=is_demo,
        )

    def ensure_demo(self) -> int:
        """The demo dataset's id, registering it (MovieLens latest-small with its catalogue) the first time."""
        with self.connect() as conn:
            row = conn.execute("SELECT id FROM datasets WHERE is_demo=1 ORDER BY id LIMIT 1").fetchone()
        if row is not None:
            return int(row["id"])
        from recsys.data import load_demo

        inter, catalog = load_demo()
        return self.add_interactions(
            inter, "MovieLens (demo)", catalog=catalog, content_hash="demo:ml-latest-small", is_demo=True
        )

    def _find_dataset(self, content_hash: str, columns: dict | None) -> int | None:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT id, columns FROM datasets WHERE content_hash=? ORDER BY id", (content_hash,)
            ).fetchall()
        for row in rows:
            if columns is None or json.loads(row["columns"]) == columns:
                return int(row["id"])
        return None

    def _load_catalog(self, items: str | os.PathLike | bytes) -> Catalog:
        from recsys.data import load_items

        raw, _, label = _read_source(items, None)
        return load_items(_named_bytes(raw, label))

    def _register(
        self, inter: Interactions, catalog: Catalog | None, *, name: str, source_name: str,
        content_hash: str, columns: dict, report: dict, is_demo: bool,
    ) -> int:
        frame = inter.to_frame(original_ids=True)
        # Files go to a staging folder first; the row and the folder's final name appear together.
        staging = self.home / "datasets" / f".staging-{content_hash[:16]}-{os.getpid()}-{time.monotonic_ns()}"
        staging.mkdir(parents=True)
        try:
            atomic_write(staging / "interactions.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
            if catalog is not None:
                cat_frame = catalog.frame.copy()
                cat_frame["item_id"] = cat_frame["item_id"].astype(str)
                atomic_write(staging / "catalog.parquet", lambda tmp: cat_frame.to_parquet(tmp, index=False))
                if catalog.report:
                    atomic_write_bytes(staging / "catalog_report.json", _json(_clean(catalog.report)).encode())
            with self.transaction() as conn:
                cur = conn.execute(
                    "INSERT INTO datasets (name, source_name, content_hash, columns, report, explicit, n_users,"
                    " n_items, n_interactions, has_timestamps, has_catalog, is_demo, created_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        str(name), str(source_name), content_hash, _json(columns), _json(_clean(report)),
                        int(bool(inter.explicit)), inter.n_users, inter.n_items, len(inter),
                        int(inter.timestamps is not None), int(catalog is not None), int(is_demo), time.time(),
                    ),
                )
                dataset_id = int(cur.lastrowid)
                folder = self.dataset_dir(dataset_id)
                remove_tree(folder)  # a leftover of a crash between rename and commit
                os.replace(staging, folder)  # if the commit then fails, sweep_orphans removes it
            _fsync_dir(folder.parent)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return dataset_id

    def list_datasets(self) -> pd.DataFrame:
        """One row per dataset (see docs/architecture.md, "Store and worker API"), oldest first."""
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM datasets ORDER BY id").fetchall()
        records = [_dataset_record(r) for r in rows]
        columns = [
            "id", "name", "source_name", "content_hash", "n_users", "n_items", "n_interactions", "density",
            "explicit", "has_timestamps", "has_catalog", "is_demo", "created_at", "columns", "report",
        ]
        return pd.DataFrame(records, columns=columns)

    def dataset(self, dataset_id: int) -> dict[str, Any]:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM datasets WHERE id=?", (int(dataset_id),)).fetchone()
        if row is None:
            raise StoreError(f"There is no dataset {dataset_id}; it may have been deleted.")
        return _dataset_record(row)

    def load_dataset(self, dataset_id: int) -> tuple[Interactions, Catalog | None]:
        """The stored interactions (numbered as when first loaded: ids sorted) and catalogue, if any."""
        meta = self.dataset(dataset_id)
        folder = self.dataset_dir(dataset_id)
        frame = pd.read_parquet(folder / "interactions.parquet")
        inter = Interactions.from_frame(
            frame, "user", "item",
            value="value" if "value" in frame else None,
            timestamp="timestamp" if "timestamp" in frame else None,
            explicit=bool(meta["explicit"]),
        )
        catalog = None
        if meta["has_catalog"]:
            cat_frame = pd.read_parquet(folder / "catalog.parquet")
            if "tags" in cat_frame:
                cat_frame["tags"] = [list(t) if t is not None else [] for t in cat_frame["tags"]]
            report_path = folder / "catalog_report.json"
            report = json.loads(report_path.read_text()) if report_path.exists() else {}
            catalog = Catalog(frame=cat_frame, report=report)
        return inter, catalog

    def rename_dataset(self, dataset_id: int, name: str) -> None:
        name = str(name).strip()
        if not name:
            raise StoreError("A dataset name cannot be empty.")
        with self.transaction() as conn:
            cur = conn.execute("UPDATE datasets SET name=? WHERE id=?", (name, int(dataset_id)))
            if cur.rowcount == 0:
                raise StoreError(f"There is no dataset {dataset_id}.")

    def delete_dataset(self, dataset_id: int) -> None:
        """Delete a dataset, all its runs, and their files. A run still training is cancelled first
        (its worker notices the missing row and stops)."""
        with self.transaction() as conn:
            run_ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE dataset_id=?", (int(dataset_id),))]
            cur = conn.execute("DELETE FROM datasets WHERE id=?", (int(dataset_id),))
            if cur.rowcount == 0:
                raise StoreError(f"There is no dataset {dataset_id}.")
        for run_id in run_ids:
            remove_tree(self.run_dir(run_id))
        remove_tree(self.dataset_dir(dataset_id))

    # -- runs ------------------------------------------------------------------------------------
    def create_run(
        self,
        dataset_id: int,
        model: str,
        params: dict[str, Any] | None,
        protocol: str,
        seed: int,
        device_requested: str = "auto",
        estimate: dict[str, Any] | None = None,
        epochs_total: int | None = None,
        is_baseline: bool = False,
        status: str = "queued",
        k: int = 10,
    ) -> int:
        """Insert a run row (``queued`` unless told otherwise) and return its id. Use
        :func:`recsys.jobs.submit` to queue training; this is the low-level insert."""
        if status not in STATUSES:
            raise StoreError(f"Unknown run status {status!r}.")
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM datasets WHERE id=?", (int(dataset_id),)).fetchone() is None:
                raise StoreError(f"There is no dataset {dataset_id}; it may have been deleted.")
            cur = conn.execute(
                "INSERT INTO runs (dataset_id, model, params, protocol, seed, k, device_requested, status,"
                " is_baseline, epochs_total, estimate, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    int(dataset_id), str(model), _json(_clean(params or {})), str(protocol), int(seed), int(k),
                    str(device_requested or "auto"), status, int(is_baseline), epochs_total,
                    _json(_clean(estimate or {})), time.time(),
                ),
            )
            return int(cur.lastrowid)

    def run(self, run_id: int) -> dict[str, Any]:
        """One run with everything the dashboard shows (the keys of :meth:`list_runs`)."""
        runs = self._runs("WHERE r.id=?", (int(run_id),))
        if not runs:
            raise StoreError(f"There is no run {run_id}; it may have been deleted.")
        return runs[0]

    def run_records(self, dataset_id: int | None = None, status: str | None = None) -> list[dict[str, Any]]:
        """Every run, newest first, as plain dicts (missing values are None): the rows of :meth:`list_runs`."""
        where, args = [], []
        if dataset_id is not None:
            where.append("r.dataset_id=?")
            args.append(int(dataset_id))
        if status is not None:
            where.append("r.status=?")
            args.append(status)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self._runs(clause + " ORDER BY r.id DESC", tuple(args))

    def list_runs(self, dataset_id: int | None = None, status: str | None = None) -> pd.DataFrame:
        """Every run, newest first, with its dataset name, settings, progress, error and metrics.
        Summary metrics also appear as their own float columns (e.g. ``ndcg``, NaN when missing) for
        sorting; every other column holds plain values with None where missing."""
        records = self.run_records(dataset_id, status)
        # object columns keep None (not NaN) where a figure is missing, exactly as in run()
        frame = pd.DataFrame({col: pd.Series([rec[col] for rec in records], dtype=object) for col in _RUN_COLUMNS})
        metric_names: list[str] = []
        for rec in records:
            for name in rec["summary"]:
                if name not in metric_names:
                    metric_names.append(name)
        for name in metric_names:
            frame[name] = pd.Series([rec["summary"].get(name) for rec in records], dtype=float)
        return frame

    def _runs(self, clause: str, args: tuple) -> list[dict[str, Any]]:
        sql = f"""
            SELECT r.*, d.name AS dataset_name,
                (SELECT COUNT(*) FROM epochs e WHERE e.run_id=r.id) AS epochs_done,
                (SELECT e.loss FROM epochs e WHERE e.run_id=r.id ORDER BY e.epoch DESC LIMIT 1) AS last_loss,
                (SELECT e.validation FROM epochs e WHERE e.run_id=r.id AND e.validation IS NOT NULL
                    ORDER BY e.epoch DESC LIMIT 1) AS last_validation,
                (SELECT SUM(e.seconds) FROM epochs e WHERE e.run_id=r.id) AS epoch_seconds
            FROM runs r JOIN datasets d ON d.id = r.dataset_id {clause}
        """
        with self.connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [_run_record(r) for r in rows]

    def epochs(self, run_id: int) -> pd.DataFrame:
        """Per-epoch rows of a run: epoch, epochs, loss, validation, metric, seconds, at (+ extra figures)."""
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", (int(run_id),)).fetchall()
        records = []
        for r in rows:
            rec = {k: r[k] for k in ("epoch", "epochs", "loss", "validation", "metric", "seconds", "at")}
            rec.update(json.loads(r["extra"]))
            records.append(rec)
        return pd.DataFrame(records, columns=None if records else
                            ["epoch", "epochs", "loss", "validation", "metric", "seconds", "at"])

    def add_epoch(self, run_id: int, record: dict[str, Any]) -> None:
        """Store one epoch's record (as passed to ``on_epoch``)."""
        known = {"epoch", "epochs", "loss", "validation", "metric", "seconds"}
        extra = {k: v for k, v in record.items() if k not in known and isinstance(v, (int, float, str, bool))}
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, epochs, loss, validation, metric, seconds, extra, at)"
                " SELECT ?,?,?,?,?,?,?,?,? WHERE EXISTS (SELECT 1 FROM runs WHERE id=?)",  # deleted run: no-op
                (
                    int(run_id), int(record["epoch"]), record.get("epochs"), _finite(record.get("loss")),
                    _finite(record.get("validation")), record.get("metric"), _finite(record.get("seconds")),
                    _json(_clean(extra)), time.time(), int(run_id),
                ),
            )

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of a run row (``status``, ``phase``, ``device``, ``error``, ``epochs_total``...)."""
        allowed = {
            "status", "phase", "device", "error", "epochs_total", "started_at", "finished_at", "worker_id",
            "summary", "ci", "estimate", "cancel_requested", "params",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise StoreError(f"Cannot set {sorted(unknown)} on a run.")
        if "status" in fields and fields["status"] not in STATUSES:
            raise StoreError(f"Unknown run status {fields['status']!r}.")
        values = [(_json(_clean(v)) if k in ("summary", "ci", "estimate", "params") else v) for k, v in fields.items()]
        sets = ", ".join(f"{k}=?" for k in fields)
        with self.transaction() as conn:
            conn.execute(f"UPDATE runs SET {sets} WHERE id=?", (*values, int(run_id)))

    def request_cancel(self, run_id: int) -> str:
        """Cancel a run: a queued run at once, a running one within one epoch. Returns the status now."""
        with self.transaction() as conn:
            row = conn.execute("SELECT status FROM runs WHERE id=?", (int(run_id),)).fetchone()
            if row is None:
                raise StoreError(f"There is no run {run_id}.")
            if row["status"] == "queued":
                conn.execute(
                    "UPDATE runs SET status='cancelled', cancel_requested=1, finished_at=?,"
                    " error='Cancelled before it started.' WHERE id=?", (time.time(), int(run_id)))
                return "cancelled"
            if row["status"] == "running":
                conn.execute("UPDATE runs SET cancel_requested=1 WHERE id=?", (int(run_id),))
            return row["status"]

    def cancel_requested(self, run_id: int) -> bool:
        """True when the run was asked to stop, or no longer exists (deleted while training)."""
        with self.connect() as conn:
            row = conn.execute("SELECT cancel_requested FROM runs WHERE id=?", (int(run_id),)).fetchone()
        return row is None or bool(row[0])

    def delete_run(self, run_id: int) -> None:
        """Delete a run, its epochs and its files."""
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM runs WHERE id=?", (int(run_id),))
            if cur.rowcount == 0:
                raise StoreError(f"There is no run {run_id}.")
        remove_tree(self.run_dir(run_id))

    def baseline_run(self, dataset_id: int, protocol: str, seed: int) -> int | None:
        """The finished Popularity run on this dataset and split, if there is one."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT id FROM runs WHERE dataset_id=? AND protocol=? AND seed=? AND model='popularity'"
                " AND status='done' ORDER BY is_baseline DESC, id LIMIT 1",
                (int(dataset_id), str(protocol), int(seed)),
            ).fetchone()
        return None if row is None else int(row[0])

    # -- run artefacts ---------------------------------------------------------------------------
    def save_run_results(self, run_id: int, model, evaluation, k: int = RECOMMENDATIONS_K) -> None:
        """Write a trained run's model, evaluation (summary, CIs, per-user arrays) and top-``k``
        recommendations for every user. Each file is replaced atomically."""
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        model.save(folder / "model")
        _fsync_tree(folder / "model")
        summary, ci, document, arrays = _split_evaluation(evaluation)
        atomic_write_bytes(folder / "evaluation.json", _json(_clean(document)).encode())

        def write_npz(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        atomic_write(folder / "per_user.npz", write_npz)
        recs = model.recommend_frame(k=k)
        recs["user"] = recs["user"].astype(str) if recs["user"].dtype == object else recs["user"]
        recs["item"] = recs["item"].astype(str) if recs["item"].dtype == object else recs["item"]
        atomic_write(folder / "recommendations.parquet", lambda tmp: recs.to_parquet(tmp, index=False))
        self.update_run(run_id, summary=summary, ci=ci)

    def load_run_model(self, run_id: int, device: str | None = None):
        """The trained model of a finished run (arrays only, no pickle)."""
        from recsys.models import load_model

        path = self.run_dir(run_id) / "model"
        if not (path / "model.json").exists():
            raise StoreError(f"Run {run_id} has no saved model (status: {self.run(run_id)['status']}).")
        return load_model(path, device=device)

    def load_evaluation(self, run_id: int):
        """The run's :class:`recsys.evaluation.Evaluation`, per-user arrays included (``recs`` is None)."""
        from recsys.evaluation import Evaluation

        document, per_user, users = self._evaluation_files(run_id)
        document = dict(document, users=users, per_user=per_user)
        return Evaluation.from_dict(document)

    def run_metrics(self, run_id: int) -> dict[str, Any]:
        """The stored evaluation document (summary, ci, notes, split report...) without arrays."""
        return self._evaluation_files(run_id)[0]

    def per_user_metrics(self, run_id: int) -> dict[str, np.ndarray]:
        """Per-user metric arrays of a finished run (name -> float array, NaN where undefined)."""
        return self._evaluation_files(run_id)[1]

    def _evaluation_files(self, run_id: int) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray]:
        folder = self.run_dir(run_id)
        if not (folder / "evaluation.json").exists():
            raise StoreError(f"Run {run_id} has no metrics (status: {self.run(run_id)['status']}).")
        document = json.loads((folder / "evaluation.json").read_text())
        with np.load(folder / "per_user.npz", allow_pickle=False) as npz:
            per_user = {name[len("metric."):]: npz[name] for name in npz.files if name.startswith("metric.")}
            users = npz["users"]
        return document, per_user, users

    def run_recommendations(self, run_id: int) -> pd.DataFrame:
        """Top-20 recommendations for every user of a finished run: user, item, rank, score."""
        path = self.run_dir(run_id) / "recommendations.parquet"
        if not path.exists():
            raise StoreError(f"Run {run_id} has no recommendations (status: {self.run(run_id)['status']}).")
        return pd.read_parquet(path)

    # -- workers (bookkeeping used by recsys.jobs) ------------------------------------------------
    def workers(self) -> list[dict[str, Any]]:
        with self.connect() as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM workers ORDER BY started_at")]

    def sweep_orphans(self, min_age_seconds: float = 3600.0) -> int:
        """Remove run/dataset folders whose rows are gone (left by a crash mid-delete), and staging or
        trash folders older than ``min_age_seconds``. The scan holds the write lock, so a dataset being
        registered (folder renamed in, row not yet committed) is never mistaken for an orphan.
        Returns how many folders were removed."""
        remove: list[Path] = []
        now = time.time()
        with self.transaction() as conn:
            runs = {str(r[0]) for r in conn.execute("SELECT id FROM runs")}
            datasets = {str(r[0]) for r in conn.execute("SELECT id FROM datasets")}
            for sub, known in (("runs", runs), ("datasets", datasets)):
                for path in (self.home / sub).iterdir():
                    if path.name.startswith((".trash-", ".staging-")):
                        with contextlib.suppress(OSError):
                            if now - path.stat().st_mtime > min_age_seconds:
                                remove.append(path)
                    elif path.is_dir() and path.name.isdigit() and path.name not in known:
                        trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{time.monotonic_ns()}")
                        os.replace(path, trash)  # out of sight at once; deleted after the lock is released
                        remove.append(trash)
        for path in remove:
            shutil.rmtree(path, ignore_errors=True)
        return len(remove)


_RUN_COLUMNS = (
    "id", "dataset_id", "dataset_name", "model", "params", "protocol", "seed", "k", "device_requested", "device",
    "status", "phase", "error", "is_baseline", "cancel_requested", "worker_id", "created_at", "started_at",
    "finished_at", "duration_seconds", "epochs_done", "epochs_total", "last_loss", "last_validation",
    "epoch_seconds", "estimate", "summary", "ci",
)


def _run_record(row: sqlite3.Row) -> dict[str, Any]:
    rec = {key: row[key] for key in row.keys() if key in _RUN_COLUMNS}
    for key in ("params", "estimate", "summary", "ci"):
        rec[key] = json.loads(row[key] or "{}")
    rec["is_baseline"] = bool(row["is_baseline"])
    rec["cancel_requested"] = bool(row["cancel_requested"])
    started, finished = row["started_at"], row["finished_at"]
    if started is None:
        rec["duration_seconds"] = None
    else:
        rec["duration_seconds"] = (finished if finished is not None else time.time()) - started
    rec["epochs_done"] = int(row["epochs_done"] or 0)
    return {key: rec.get(key) for key in _RUN_COLUMNS}


def _dataset_record(row: sqlite3.Row) -> dict[str, Any]:
    rec = dict(row)
    rec["columns"] = json.loads(rec["columns"] or "{}")
    rec["report"] = json.loads(rec["report"] or "{}")
    for key in ("explicit", "has_timestamps", "has_catalog", "is_demo"):
        rec[key] = bool(rec[key])
    rec["density"] = rec["n_interactions"] / max(1, rec["n_users"] * rec["n_items"])
    return rec


def _read_source(source, source_name: str | None) -> tuple[bytes, str, str]:
    """(bytes, safe suffix, display name) of a path, bytes, or file-like upload."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw, label = bytes(source), source_name or "upload"
    elif hasattr(source, "read"):
        raw = source.read()
        raw = raw.encode() if isinstance(raw, str) else bytes(raw)
        label = source_name or str(getattr(source, "name", "upload"))
    else:
        path = Path(source)
        with open_regular_file(path) as fh:  # a folder, FIFO or device is refused before any read
            raw, label = fh.read(), source_name or path.name
    label = Path(str(label)).name or "upload"
    suffixes = [s.lower() for s in Path(label).suffixes][-2:]
    suffix = "".join(s for s in suffixes if s in UPLOAD_SUFFIXES) or ".csv"
    return raw, suffix, label


def _named_bytes(raw: bytes, label: str) -> io.BytesIO:
    """The bytes as a file object whose ``name`` is the upload's file name (text only, never a path)."""
    buffer = io.BytesIO(raw)
    buffer.name = label
    return buffer


def _display_name(label: str) -> str:
    name = label
    for suffix in UPLOAD_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or "dataset"


def _report_dict(inter: Interactions) -> dict:
    report = getattr(inter, "report", None)
    if report is None:
        return {}
    if isinstance(report, dict):
        return report
    return report.to_dict() if hasattr(report, "to_dict") else {}


def _frame_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    digest.update(buffer.getvalue())
    return digest.hexdigest()


def _split_evaluation(evaluation) -> tuple[dict, dict, dict, dict[str, np.ndarray]]:
    """(summary, ci, JSON document without per-user arrays, arrays for the npz) of an Evaluation.
    The npz holds ``users`` (test user numbers) and one float array per metric, aligned with it."""
    document = evaluation.to_dict(include_recs=False)
    document.pop("per_user", None)
    document.pop("users", None)
    arrays = {"users": np.asarray(evaluation.users, dtype=np.int64)}
    for name, values in evaluation.per_user.items():
        arrays[f"metric.{name}"] = np.asarray(values, dtype=np.float64)
    return _clean(document.get("summary", {})), _clean(document.get("ci", {})), _clean(document), arrays
