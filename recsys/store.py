"""The run store: every dataset, training run, epoch, metric, model and recommendation list, on disk.

One data folder (``TASTEMAKER_HOME``, default ``./tastemaker-data``) holds ``tastemaker.db`` (SQLite in
WAL mode) and the files:

* ``datasets/<id>/interactions.parquet`` (the interactions in the file's own ids) and, when given,
  ``datasets/<id>/catalog.parquet``;
* ``runs/<id>/model/`` (arrays + JSON, see :meth:`recsys.models.base.Recommender.save`): the *evaluated*
  model, trained on the split's fit-train part and scored on its test part;
  ``runs/<id>/serving/``: the *serving* model, the same settings refitted on every interaction, which
  Explore, Recommendations, exports and the stored lists use (runs saved before it existed have none);
  ``runs/<id>/evaluation.json`` (summary and confidence intervals), ``runs/<id>/per_user.npz`` (per-user
  metric arrays and the test users' top-k lists) and ``runs/<id>/recommendations.parquet`` (the serving
  model's top 20 per user, never an item the user has anywhere in the data);
* ``logs/`` (worker log, one traceback file per failed run; for engineers, never shown as a message);
* ``quarantine/`` (anything found in ``datasets/`` or ``runs/`` that no row, manifest or delete explains:
  moved here, never deleted).

Every write is atomic (a temp file in the same folder, fsync, ``os.replace``), every database change is
one transaction, and every method opens its own short-lived connection, so a ``Store`` can be shared by
threads and processes. Names of uploaded files are kept as text only; paths are built from ids.

Nothing is lost by surprise:

* every dataset and finished run folder holds ``manifest.json`` (its row, and a run's epochs), so the
  database can be rebuilt from the folders (:func:`doctor` with ``repair=True``);
* a folder without a row is removed only when a delete removed its row (a ``deleted`` row records it);
  a new or emptied database beside existing folders deletes nothing;
* a run is ``done`` with its files or not done without them: results are written to a staging folder
  that the transaction marking the run done renames into place (:meth:`Store.finish_run`);
* the same bytes with the same column mapping are registered once, enforced by a UNIQUE index;
* disk full, a read-only folder and a damaged database raise :class:`StoreError` with one plain
  sentence; when writing is impossible the store opens read-only, so listing still works.

Sections below: errors and faults; atomic files; the ``Store`` (connections and migrations, paths,
datasets, runs, run files, workers and the queue, housekeeping); the doctor; row helpers.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import math
import os
import shutil
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import Catalog, DataError, Interactions
from recsys.reading import open_regular_file

SCHEMA_VERSION = 4
DB_NAME = "tastemaker.db"
MANIFEST = "manifest.json"
REPORT_KEY = "report.key"
MANIFEST_FORMAT = 1
PREFERENCES = "preferences.json"  # small remembered choices of the studio (Store.preference)
QUARANTINE = "quarantine"
FULL_BELOW_BYTES = 1 << 20  # a file system with less free space than this counts as full
BUSY_TIMEOUT_MS = 30_000
RECOMMENDATIONS_K = 20
STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINISHED = ("done", "failed", "cancelled", "interrupted")
_RUN_SETTABLE = frozenset({
    "status", "phase", "device", "error", "epochs_total", "started_at", "finished_at", "worker_id",
    "summary", "ci", "estimate", "cancel_requested", "params", "engine", "tune",
})
_RUN_JSON = frozenset({"summary", "ci", "estimate", "params", "engine", "tune"})
TRIAL_STATES = ("complete", "pruned", "failed")
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
    # registration: the same bytes with the same mapping once (NULL for duplicates made before this);
    # deleted: what delete calls removed, so the sweep knows which folders without rows it may remove.
    2: """
    ALTER TABLE datasets ADD COLUMN registration TEXT;
    CREATE UNIQUE INDEX datasets_registration ON datasets(registration);
    CREATE TABLE deleted (
        kind TEXT NOT NULL,
        id INTEGER NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (kind, id)
    );
    """,
    # engine: where the run trains (JSON: name, and for Spark the master, settings, versions, executors
    # and times; '{}' is a local run).
    3: """
    ALTER TABLE runs ADD COLUMN engine TEXT NOT NULL DEFAULT '{}';
    """,
    # tune: a tuning run's budget and, once searched, what the search found (NULL for a plain run);
    # trials: each finished trial of a tuning run, stored as it ends.
    4: """
    ALTER TABLE runs ADD COLUMN tune TEXT;
    CREATE TABLE trials (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        value REAL,
        state TEXT NOT NULL,
        seconds REAL,
        epochs TEXT NOT NULL DEFAULT '[]',
        note TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL,
        PRIMARY KEY (run_id, number)
    );
    """,
}


# -- errors and faults ------------------------------------------------------------------------------
class StoreError(ValueError):
    """Something asked of the store does not exist or cannot be done; the message says which."""


class StoreFault(StoreError):
    """The data folder itself failed (disk full, read-only, damaged database, failing disk). ``kind`` is
    ``full``, ``read_only``, ``damaged``, ``busy`` or ``io``; the message is one plain sentence."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def fault_message(kind: str, home: Path, detail: str = "") -> str:
    """The one sentence shown for a store fault: what happened and what to do."""
    db = home / DB_NAME
    if kind == "full":
        return f"The disk holding the data folder {home} is full, so nothing could be saved: free some space and try again."
    if kind == "read_only":
        return (f"The data folder {home} is read-only, so nothing can be saved: make it writable, "
                "or set TASTEMAKER_HOME to a writable folder.")
    if kind == "damaged":
        return (f"The database {db} is damaged (not a readable SQLite file): run `python -m recsys doctor --repair` "
                "to set it aside and rebuild it from the dataset and run folders.")
    if kind == "busy":
        return "The database is busy (another program has held it for over 30 s): try again in a moment."
    reason = f" ({detail})" if detail else ""
    return (f"Reading or writing the data folder {home} failed{reason}: check the disk, "
            "then run `python -m recsys doctor`.")


def _file_system_state(home: Path) -> str | None:
    """``read_only`` or ``full`` when the file system holding ``home`` is so, else None."""
    probe = home if home.exists() else home.parent
    try:
        stats = os.statvfs(probe)
    except OSError:
        return None
    if stats.f_flag & os.ST_RDONLY or not os.access(probe, os.W_OK):
        return "read_only"
    if stats.f_bavail * stats.f_frsize < FULL_BELOW_BYTES:
        return "full"
    return None


def classify_fault(exc: BaseException, home: Path) -> StoreFault | None:
    """The :class:`StoreFault` an SQLite or OS error means for the data folder ``home``, or None when it is
    not a fault of the folder (a missing file, a constraint, a programming error)."""
    if isinstance(exc, StoreFault):
        return exc
    if not isinstance(exc, (sqlite3.Error, OSError)) or isinstance(exc, sqlite3.IntegrityError):
        return None
    text = str(exc).lower()
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    code = getattr(exc, "errno", None)

    def fault(kind: str, detail: str = "") -> StoreFault:
        return StoreFault(kind, fault_message(kind, home, detail))

    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in text or "not a database" in text:
        return fault("damaged")
    if code in (errno.ENOSPC, errno.EDQUOT) or name == "SQLITE_FULL" or "disk is full" in text or "no space left" in text:
        return fault("full")
    if code == errno.EROFS or name.startswith("SQLITE_READONLY") or "readonly database" in text or "read-only file" in text:
        return fault("read_only")
    if name == "SQLITE_BUSY" or "database is locked" in text:
        return fault("busy")
    disk = name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) or "disk i/o" in text or "unable to open" in text
    if (isinstance(exc, sqlite3.Error) and disk) or code in (errno.EIO, errno.EACCES, errno.EPERM):
        state = _file_system_state(home)
        if state is not None:
            return fault(state)
        if code in (errno.EACCES, errno.EPERM):
            return fault("read_only")
        return fault("io", " ".join(str(exc).split()) or "disk error")
    return None  # not the disk: a missing file, an SQL mistake


def _faults_plain(method: Callable) -> Callable:
    """Decorator for Store methods that touch files: a fault of the data folder (disk full, read-only,
    damaged database) leaves as a :class:`StoreFault` with one plain sentence, never a raw error."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            fault = classify_fault(exc, self.home)
            if fault is None:
                raise
            raise fault from exc

    return wrapper


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
    """The data folder: an SQLite database (WAL) plus write-once dataset files and per-run files.

    Opening creates the folders and migrates the schema. When the folder cannot be written (read-only,
    or a full disk) but holds a database, the store opens read-only: reads work, every write raises
    :class:`StoreFault` with the reason (``read_only_reason``). A damaged database raises
    :class:`StoreFault` at once (``python -m recsys doctor --repair`` rebuilds it)."""

    def __init__(self, home: str | os.PathLike | None = None) -> None:
        self.home = Path(home).expanduser().resolve() if home is not None else default_home()
        self.db_path = self.home / DB_NAME
        self.read_only_reason: str | None = None
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            for sub in ("datasets", "runs", "logs"):
                (self.home / sub).mkdir(exist_ok=True)
            migrated_from = self._migrate()
        except (sqlite3.Error, OSError) as exc:
            fault = classify_fault(exc, self.home)
            if fault is None:
                raise
            if fault.kind not in ("read_only", "full", "io") or not self.db_path.is_file():
                raise fault from exc
            self.read_only_reason = str(fault)  # listing still works; every write says why it cannot
            return
        if migrated_from == 1:
            with contextlib.suppress(StoreError, OSError):
                self.write_missing_manifests()

    def __repr__(self) -> str:
        return f"Store({str(self.home)!r})"

    @property
    def read_only(self) -> bool:
        """True when this store was opened read-only because the folder cannot be written."""
        return self.read_only_reason is not None

    # -- connections and migrations --------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """A connection that writes nothing at all, not even SQLite's shared-memory file: what works on a
        read-only or full file system (it reads the database file as it was last checkpointed)."""
        uri = f"file:{urllib.parse.quote(str(self.db_path))}?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn

    def _fault(self, exc: BaseException) -> BaseException:
        """``exc`` as the plain :class:`StoreFault` it means, or ``exc`` itself when it is no fault."""
        return classify_fault(exc, self.home) or exc

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh autocommit connection for reading, closed on exit (reads need no transaction in WAL
        mode). When the folder has turned read-only or full since opening, it reads read-only."""
        try:
            if self.read_only:
                conn = self._open_read_only()
            else:
                conn = None
                try:
                    conn = self._open()
                    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                except sqlite3.Error as exc:
                    if conn is not None:
                        conn.close()
                    fault = classify_fault(exc, self.home)
                    if fault is None or fault.kind not in ("read_only", "full", "io"):
                        raise
                    conn = self._open_read_only()
        except (sqlite3.Error, OSError) as exc:
            raise self._fault(exc) from exc
        try:
            yield conn
        except (sqlite3.Error, OSError) as exc:
            raise self._fault(exc) from exc
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection inside ``BEGIN IMMEDIATE``: committed on success, rolled back on error.
        Immediate means the write lock is taken up front, so read-then-write sequences cannot race.
        A fault of the folder (full, read-only, damaged) leaves as :class:`StoreFault`."""
        if self.read_only_reason is not None:
            raise StoreFault("read_only", self.read_only_reason)
        try:
            conn = self._open()
            conn.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, OSError) as exc:
            raise self._fault(exc) from exc
        try:
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            fault = classify_fault(exc, self.home)
            if fault is None:
                raise
            raise fault from exc
        finally:
            conn.close()

    def _migrate(self) -> int:
        """Create or migrate the schema; returns the version found (0 for a new database)."""
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
                    if target == 2:
                        _register_existing_datasets(conn)
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()
        return int(version)

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

    def report_key(self) -> bytes:
        """The secret that keys people's pseudonyms in reports (:func:`recsys.report.pseudonym`): 32 random
        bytes in ``report.key``, made the first time (readable by the owner only), so a person keeps one
        pseudonym across reports. A read-only store without one gets a fresh key each time (pseudonyms then
        hold within one report only)."""
        path = self.home / REPORT_KEY
        try:
            key = path.read_bytes()
            if len(key) == 32:
                return key
        except OSError:
            pass
        key = os.urandom(32)
        if self.read_only:
            return key
        tmp = path.with_name(f".{REPORT_KEY}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(key)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)  # first writer wins; the others read its key
        except FileExistsError:
            pass
        except OSError:
            return key
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return path.read_bytes()

    def staging_dir(self, run_id: int) -> Path:
        """Where this process writes a run's files before :meth:`finish_run` renames them into
        :meth:`run_dir` in the transaction that marks the run done (one per run and process)."""
        return self.home / "runs" / f".staging-{int(run_id)}-{os.getpid()}"

    def quarantine_dir(self) -> Path:
        return self.home / QUARANTINE

    # -- datasets --------------------------------------------------------------------------------
    @_faults_plain
    def add_dataset(
        self,
        source: str | os.PathLike | bytes,
        name: str | None = None,
        columns: dict[str, str] | None = None,
        items: str | os.PathLike | bytes | None = None,
        source_name: str | None = None,
        creator_column: str | None = None,
        replace_catalog: bool = False,
        items_name: str | None = None,
    ) -> int:
        """Register an interactions file (a path, or the uploaded bytes) and return its dataset id.

        The same bytes (sha256) uploaded again, with no column mapping or the same one, return the
        existing id; a catalogue given with them is attached to that dataset (:meth:`attach_catalog`:
        one it already has is replaced only with ``replace_catalog``). ``columns`` maps roles (user, item,
        rating, time) to column names; ``items`` is an optional item catalogue (``items_name``: its file
        name when ``items`` is bytes), ``creator_column`` its column saying who made each item (None:
        detected by name, ``""``: none). Raises :class:`DataError` when the file cannot be used."""
        from recsys.data import catalog_coverage, load_interactions

        raw, _, label = _read_source(source, source_name)
        content_hash = hashlib.sha256(raw).hexdigest()
        wanted = _clean(dict(columns)) if columns else None
        existing = self._find_dataset(content_hash, wanted)
        if existing is not None and not self.dataset_problems(existing):
            if items is not None:  # a catalogue given with data already saved attaches to it
                self.attach_catalog(existing, items, replace=replace_catalog, source_name=items_name,
                                    creator_column=creator_column)
            return existing
        inter = load_interactions(_named_bytes(raw, label), columns=columns)
        catalog = self._load_catalog(items, creator_column, items_name) if items is not None else None
        if catalog is not None and inter.report is not None:
            inter.report.add_catalog(catalog_coverage(catalog, inter))  # coverage, and `content` shortlisted
            inter.report.catalog["hash"] = catalog.report["hash"]
        if existing is not None:  # same bytes and mapping, but its stored copy is damaged: repair it
            return self._repair_dataset_files(existing, inter, catalog)
        report = _report_dict(inter)
        used_columns = wanted or _clean(dict(report.get("columns") or {}))
        return self._register(
            inter, catalog, name=name or _display_name(label), source_name=label,
            content_hash=content_hash, columns=used_columns, report=report, is_demo=False,
        )

    @_faults_plain
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
        if existing is not None and not self.dataset_problems(existing):
            return existing
        if existing is not None:
            return self._repair_dataset_files(existing, inter, catalog)
        report = _report_dict(inter)
        return self._register(
            inter, catalog, name=name, source_name=name, content_hash=content_hash,
            columns=_clean(dict(columns or report.get("columns") or {})), report=report, is_demo=is_demo,
        )

    def ensure_demo(self) -> int | None:
        """The demo dataset's id, registering it (MovieLens latest-small with its catalogue) the first time.
        None on a read-only store that has no demo."""
        with self.connect() as conn:
            row = conn.execute("SELECT id FROM datasets WHERE is_demo=1 ORDER BY id LIMIT 1").fetchone()
        if row is not None:
            return int(row["id"])
        if self.read_only:
            return None
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

    def _load_catalog(
        self, items: str | os.PathLike | bytes, creator_column: str | None = None, source_name: str | None = None
    ) -> Catalog:
        from recsys.data import load_items

        raw, _, label = _read_source(items, source_name)
        catalog = load_items(_named_bytes(raw, label), creator_column=creator_column)
        # tells a new catalogue (or the same read with another creator column) from the same again
        catalog.report["hash"] = hashlib.sha256(raw + f"\0{creator_column}".encode()).hexdigest()
        return catalog

    def _register(
        self, inter: Interactions, catalog: Catalog | None, *, name: str, source_name: str,
        content_hash: str, columns: dict, report: dict, is_demo: bool,
    ) -> int:
        """Write the files to a staging folder, then insert the row and rename the folder into place in
        one transaction. When another process registered the same bytes and mapping first (the UNIQUE
        registration index refuses the second insert), its id is returned and these files dropped."""
        key = _registration_key(content_hash, columns)
        staging = self.home / "datasets" / f".staging-{content_hash[:16]}-{os.getpid()}-{time.monotonic_ns()}"
        try:
            self._write_dataset_files(staging, inter, catalog)
            try:
                with self.transaction() as conn:
                    _reserve_ids(conn, "datasets", self.home / "datasets")
                    cur = conn.execute(
                        "INSERT INTO datasets (name, source_name, content_hash, columns, report, explicit, n_users,"
                        " n_items, n_interactions, has_timestamps, has_catalog, is_demo, created_at, registration)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            str(name), str(source_name), content_hash, _json(columns), _json(_clean(report)),
                            int(bool(inter.explicit)), inter.n_users, inter.n_items, len(inter),
                            int(inter.timestamps is not None), int(catalog is not None), int(is_demo), time.time(),
                            key,
                        ),
                    )
                    dataset_id = int(cur.lastrowid)
                    row = conn.execute("SELECT * FROM datasets WHERE id=?", (dataset_id,)).fetchone()
                    _write_manifest(staging, "dataset", dataset_id, _row_for_manifest(row))
                    folder = self.dataset_dir(dataset_id)
                    if folder.exists():  # ids are reserved past every folder, so this is never expected
                        self._quarantine(folder, "a folder already held the new dataset's number")
                    os.replace(staging, folder)  # if the commit then fails: a folder with a manifest, no row
            except sqlite3.IntegrityError:
                with self.connect() as conn:
                    row = conn.execute("SELECT id FROM datasets WHERE registration=?", (key,)).fetchone()
                if row is None:
                    raise
                return int(row["id"])
            _fsync_dir(folder.parent)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return dataset_id

    def _write_dataset_files(self, folder: Path, inter: Interactions, catalog: Catalog | None) -> None:
        folder.mkdir(parents=True)
        atomic_write(folder / "interactions.parquet", inter.to_parquet)  # row group by row group
        if catalog is not None:
            cat_frame = catalog.frame.copy()
            cat_frame["item_id"] = cat_frame["item_id"].astype(str)
            atomic_write(folder / "catalog.parquet", lambda tmp: cat_frame.to_parquet(tmp, index=False))
            if catalog.report:
                atomic_write_bytes(folder / "catalog_report.json", _json(_clean(catalog.report)).encode())

    def dataset_problems(self, dataset_id: int) -> list[str]:
        """What is wrong with a dataset's stored files (empty when it loads): a missing or unreadable
        interactions or catalogue file."""
        meta = self.dataset(dataset_id)
        wanted = ["interactions.parquet"] + (["catalog.parquet"] if meta["has_catalog"] else [])
        return [problem for name in wanted if (problem := _unreadable_parquet(self.dataset_dir(dataset_id) / name))]

    def _repair_dataset_files(self, dataset_id: int, inter: Interactions, catalog: Catalog | None) -> int:
        """Rewrite the files of an existing dataset (same bytes and mapping, so the same numbering and its
        runs stay valid) from a fresh load, keeping a stored catalogue that still reads."""
        folder = self.dataset_dir(dataset_id)
        meta = self.dataset(dataset_id)
        if catalog is None and meta["has_catalog"] and _unreadable_parquet(folder / "catalog.parquet"):
            raise DataError(f"Dataset {dataset_id}'s stored item catalogue is missing or damaged too: upload "
                            "the file again together with its items file.")
        staging = self.home / "datasets" / f".staging-repair-{int(dataset_id)}-{os.getpid()}-{time.monotonic_ns()}"
        try:
            self._write_dataset_files(staging, inter, catalog)
            if catalog is None and meta["has_catalog"]:
                for name in ("catalog.parquet", "catalog_report.json"):
                    if (folder / name).is_file():
                        shutil.copy2(folder / name, staging / name)
            with self.transaction() as conn:
                row = conn.execute("SELECT * FROM datasets WHERE id=?", (int(dataset_id),)).fetchone()
                if row is None:
                    raise StoreError(f"There is no dataset {dataset_id}; it may have been deleted.")
                if catalog is not None and not row["has_catalog"]:
                    conn.execute("UPDATE datasets SET has_catalog=1 WHERE id=?", (int(dataset_id),))
                    row = conn.execute("SELECT * FROM datasets WHERE id=?", (int(dataset_id),)).fetchone()
                _write_manifest(staging, "dataset", int(dataset_id), _row_for_manifest(row))
                old = folder.with_name(f".trash-{folder.name}-{os.getpid()}-{time.monotonic_ns()}")
                if folder.exists():
                    os.replace(folder, old)
                os.replace(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
            _fsync_dir(folder.parent)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return int(dataset_id)

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
        problems = self.dataset_problems(dataset_id)
        if problems:
            raise StoreError(
                f"Dataset {dataset_id}'s stored copy cannot be read ({'; '.join(problems)}): upload the same "
                "file again to repair it, or run `python -m recsys doctor`."
            )
        inter = Interactions.from_parquet(folder / "interactions.parquet", explicit=bool(meta["explicit"]))
        catalog = None
        if meta["has_catalog"]:
            cat_frame = pd.read_parquet(folder / "catalog.parquet")
            if "tags" in cat_frame:
                cat_frame["tags"] = [list(t) if t is not None else [] for t in cat_frame["tags"]]
            report_path = folder / "catalog_report.json"
            report = json.loads(report_path.read_text()) if report_path.exists() else {}
            catalog = Catalog(frame=cat_frame, report=report)
        return inter, catalog

    @_faults_plain
    def rename_dataset(self, dataset_id: int, name: str) -> None:
        name = str(name).strip()
        if not name:
            raise StoreError("A dataset name cannot be empty.")
        with self.transaction() as conn:
            cur = conn.execute("UPDATE datasets SET name=? WHERE id=?", (name, int(dataset_id)))
            if cur.rowcount == 0:
                raise StoreError(f"There is no dataset {dataset_id}.")
            row = conn.execute("SELECT * FROM datasets WHERE id=?", (int(dataset_id),)).fetchone()
            if self.dataset_dir(dataset_id).is_dir():
                _write_manifest(self.dataset_dir(dataset_id), "dataset", int(dataset_id), _row_for_manifest(row))

    @_faults_plain
    def delete_dataset(self, dataset_id: int) -> None:
        """Delete a dataset, all its runs, and their files. A run still training is cancelled first
        (its worker notices the missing row and stops)."""
        with self.transaction() as conn:
            run_ids = [r[0] for r in conn.execute("SELECT id FROM runs WHERE dataset_id=?", (int(dataset_id),))]
            cur = conn.execute("DELETE FROM datasets WHERE id=?", (int(dataset_id),))
            if cur.rowcount == 0:
                raise StoreError(f"There is no dataset {dataset_id}.")
            _record_deleted(conn, [("dataset", int(dataset_id)), *(("run", int(r)) for r in run_ids)])
        for run_id in run_ids:
            self.discard_run_files(run_id)
        remove_tree(self.dataset_dir(dataset_id))
        self._forget_deleted([("dataset", int(dataset_id)), *(("run", int(r)) for r in run_ids)])

    # -- what a dataset is about: its catalogue and its nouns ------------------------------------
    def registered_dataset(
        self, source: str | os.PathLike | bytes, columns: dict[str, str] | None = None, source_name: str | None = None
    ) -> int | None:
        """The id these bytes were already saved as (with no mapping, or the same mapping), else None: what
        :meth:`add_dataset` would return without registering anything."""
        raw, _, _ = _read_source(source, source_name)
        wanted = _clean(dict(columns)) if columns else None
        return self._find_dataset(hashlib.sha256(raw).hexdigest(), wanted)

    @_faults_plain
    def attach_catalog(
        self, dataset_id: int, items: str | os.PathLike | bytes, replace: bool = False, source_name: str | None = None,
        creator_column: str | None = None,
    ) -> bool:
        """Give a saved dataset an item catalogue (a path or the uploaded bytes; ``creator_column`` as in
        :meth:`add_dataset`). A dataset that already has a different one keeps it unless ``replace`` (then
        :class:`StoreError` says so); the same catalogue again changes nothing. The dataset's report gets
        the new coverage. Returns True when the stored catalogue changed. Runs keep their models: a
        catalogue only names and describes items (a content-based run trained on the old one keeps what
        it learnt)."""
        from recsys.data import catalog_coverage

        raw, _, label = _read_source(items, source_name)
        catalog = self._load_catalog(raw, creator_column, label)
        meta = self.dataset(dataset_id)
        folder = self.dataset_dir(dataset_id)
        if meta["has_catalog"]:
            old = folder / "catalog_report.json"
            old_hash = json.loads(old.read_text()).get("hash") if old.is_file() else None
            if old_hash == catalog.report["hash"]:
                return False
            if not replace:
                raise StoreError(
                    f"Dataset {meta['name']!r} already has an item catalogue: say that the new one ({label}) "
                    "replaces it, or keep the old one."
                )
        inter, _ = self.load_dataset(dataset_id)
        coverage = catalog_coverage(catalog, inter)
        report = _with_catalog(meta["report"], coverage, catalog.report["hash"])
        staging = self.home / "datasets" / f".staging-catalog-{int(dataset_id)}-{os.getpid()}-{time.monotonic_ns()}"
        try:
            staging.mkdir(parents=True)
            cat_frame = catalog.frame.copy()
            cat_frame["item_id"] = cat_frame["item_id"].astype(str)
            atomic_write(staging / "catalog.parquet", lambda tmp: cat_frame.to_parquet(tmp, index=False))
            atomic_write_bytes(staging / "catalog_report.json", _json(_clean(catalog.report)).encode())
            with self.transaction() as conn:
                cur = conn.execute("UPDATE datasets SET has_catalog=1, report=? WHERE id=?",
                                   (_json(_clean(report)), int(dataset_id)))
                if cur.rowcount == 0:
                    raise StoreError(f"There is no dataset {dataset_id}; it may have been deleted.")
                for name in ("catalog_report.json", "catalog.parquet"):  # the report first: a half-done
                    os.replace(staging / name, folder / name)  # swap leaves a catalogue that still reads
                row = conn.execute("SELECT * FROM datasets WHERE id=?", (int(dataset_id),)).fetchone()
                _write_manifest(folder, "dataset", int(dataset_id), _row_for_manifest(row))
            _fsync_dir(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True

    def dataset_nouns(self, dataset_id: int) -> dict[str, str] | None:
        """The words a person chose for this dataset's items, people and interactions
        (:class:`recsys.nouns.Nouns` as a dict), or None when they were never set (then they are detected
        from the column names: :func:`recsys.nouns.dataset_nouns`)."""
        nouns = (self.dataset(dataset_id)["report"] or {}).get("nouns")
        return dict(nouns) if isinstance(nouns, dict) else None

    @_faults_plain
    def set_dataset_nouns(self, dataset_id: int, nouns: dict[str, str] | None) -> None:
        """Store the words for a dataset's items, people and interactions with the dataset (in its report
        and manifest); None forgets them, so they are detected again."""
        with self.transaction() as conn:
            row = conn.execute("SELECT report FROM datasets WHERE id=?", (int(dataset_id),)).fetchone()
            if row is None:
                raise StoreError(f"There is no dataset {dataset_id}; it may have been deleted.")
            report = json.loads(row["report"] or "{}")
            if nouns is None:
                report.pop("nouns", None)
            else:
                report["nouns"] = {str(k): str(v) for k, v in dict(nouns).items()}
            conn.execute("UPDATE datasets SET report=? WHERE id=?", (_json(_clean(report)), int(dataset_id)))
            row = conn.execute("SELECT * FROM datasets WHERE id=?", (int(dataset_id),)).fetchone()
            if self.dataset_dir(dataset_id).is_dir():
                _write_manifest(self.dataset_dir(dataset_id), "dataset", int(dataset_id), _row_for_manifest(row))

    # -- small preferences of the studio (the dataset last opened...) ----------------------------
    def preference(self, name: str, default: Any = None) -> Any:
        """A remembered value (``preferences.json`` in the data folder), or ``default``."""
        try:
            values = json.loads((self.home / PREFERENCES).read_text())
        except (OSError, ValueError):
            return default
        return values.get(str(name), default) if isinstance(values, dict) else default

    def set_preference(self, name: str, value: Any) -> bool:
        """Remember ``value`` under ``name`` (JSON values). Best effort: False when the folder cannot be
        written (a read-only or full store still works, it just forgets)."""
        if self.read_only:
            return False
        path = self.home / PREFERENCES
        try:
            values = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            values = {}
        values = values if isinstance(values, dict) else {}
        if values.get(str(name)) == value:
            return True
        values[str(name)] = value
        try:
            atomic_write_bytes(path, _json(_clean(values)).encode())
        except OSError:
            return False
        return True

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
        engine: dict[str, Any] | None = None,
        tune: dict[str, Any] | None = None,
    ) -> int:
        """Insert a run row (``queued`` unless told otherwise) and return its id. ``engine`` is where it
        trains (:func:`recsys.engines.engine_settings`; None: locally); ``tune`` (a budget, e.g.
        ``{"minutes": 5, "trials": None}``) makes it a tuning run. Use :func:`recsys.jobs.submit` to queue
        training; this is the low-level insert."""
        if status not in STATUSES:
            raise StoreError(f"Unknown run status {status!r}.")
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM datasets WHERE id=?", (int(dataset_id),)).fetchone() is None:
                raise StoreError(f"There is no dataset {dataset_id}; it may have been deleted.")
            _reserve_ids(conn, "runs", self.home / "runs")
            cur = conn.execute(
                "INSERT INTO runs (dataset_id, model, params, protocol, seed, k, device_requested, status,"
                " is_baseline, epochs_total, estimate, created_at, engine, tune)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    int(dataset_id), str(model), _json(_clean(params or {})), str(protocol), int(seed), int(k),
                    str(device_requested or "auto"), status, int(is_baseline), epochs_total,
                    _json(_clean(estimate or {})), time.time(), _json(_clean(engine or {})),
                    None if tune is None else _json(_clean(tune)),
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
                (SELECT SUM(e.seconds) FROM epochs e WHERE e.run_id=r.id) AS epoch_seconds,
                (SELECT COUNT(*) FROM trials t WHERE t.run_id=r.id) AS trials_done
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

    def add_trial(self, run_id: int, trial: dict[str, Any]) -> None:
        """Store one finished trial of a tuning run (a :class:`recsys.tuning.Trial` as a dict: number,
        params, value, state, seconds, epochs, note), as it ends; a no-op when the run was deleted."""
        if trial.get("state") not in TRIAL_STATES:
            raise StoreError(f"Unknown trial state {trial.get('state')!r}.")
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO trials (run_id, number, params, value, state, seconds, epochs, note, at)"
                " SELECT ?,?,?,?,?,?,?,?,? WHERE EXISTS (SELECT 1 FROM runs WHERE id=?)",
                (
                    int(run_id), int(trial["number"]), _json(_clean(trial.get("params") or {})),
                    _finite(trial.get("value")), trial["state"], _finite(trial.get("seconds")),
                    _json(_clean(trial.get("epochs") or [])), str(trial.get("note") or ""), time.time(), int(run_id),
                ),
            )

    def trials(self, run_id: int) -> list[dict[str, Any]]:
        """The stored trials of a tuning run, by number: dicts with the keys :meth:`add_trial` takes
        (``value`` None when the trial has none) plus ``at`` (when it was stored)."""
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM trials WHERE run_id=? ORDER BY number", (int(run_id),)).fetchall()
        return [_trial_record(row) for row in rows]

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of a run row (``status``, ``phase``, ``device``, ``error``, ``epochs_total``...)."""
        unknown = set(fields) - _RUN_SETTABLE
        if unknown:
            raise StoreError(f"Cannot set {sorted(unknown)} on a run.")
        if "status" in fields and fields["status"] not in STATUSES:
            raise StoreError(f"Unknown run status {fields['status']!r}.")
        values = [(_json(_clean(v)) if k in _RUN_JSON else v) for k, v in fields.items()]
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

    @_faults_plain
    def delete_run(self, run_id: int) -> None:
        """Delete a run, its epochs and its files."""
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM runs WHERE id=?", (int(run_id),))
            if cur.rowcount == 0:
                raise StoreError(f"There is no run {run_id}.")
            _record_deleted(conn, [("run", int(run_id))])
        self.discard_run_files(run_id)
        self._forget_deleted([("run", int(run_id))])

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
    @_faults_plain
    def save_run_results(self, run_id: int, model, evaluation) -> None:
        """Write a trained run's evaluated model and its evaluation (summary, CIs, per-user arrays, the test
        users' top-k lists) into the run's staging folder (:meth:`staging_dir`); they become the run's
        files when :meth:`finish_run` marks it done. Each file is written atomically. The serving model
        and the stored recommendations are staged by :meth:`save_serving_model`."""
        folder = self.staging_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        model.save(folder / "model")
        _fsync_tree(folder / "model")
        summary, ci, document, arrays = _split_evaluation(evaluation)
        atomic_write_bytes(folder / "evaluation.json", _json(_clean(document)).encode())

        def write_npz(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        atomic_write(folder / "per_user.npz", write_npz)

    def load_run_model(self, run_id: int, device: str | None = None, evaluated: bool = False):
        """A finished run's model (arrays only, no pickle): the serving model, refitted on every
        interaction (the evaluated one for runs saved before serving models existed), or with
        ``evaluated=True`` the model that was trained on the fit-train part and scored on the test."""
        from recsys.models import ModelError, load_model

        folder = self.run_dir(run_id)
        path = folder / "model"
        if not evaluated and (folder / "serving" / "model.json").exists():
            path = folder / "serving"
        run = self.run(run_id)
        if not (path / "model.json").exists():
            raise StoreError(f"Run {run_id} has no saved model (status: {run['status']}).")
        try:
            return load_model(path, device=device, kind=run["model"])
        except (StoreError, ModelError):
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged file must read as one sentence
            raise self._damaged_files(run_id, "saved model", exc) from exc

    def _damaged_files(self, run_id: int, what: str, exc: BaseException) -> StoreError:
        fault = classify_fault(exc, self.home)
        if fault is not None and fault.kind != "damaged":
            return fault
        return StoreError(f"The {what} of run {run_id} cannot be read: its files in {self.run_dir(run_id)} are "
                          "damaged. Delete the run and train it again (`python -m recsys doctor` lists such runs).")

    def load_evaluation(self, run_id: int):
        """The run's :class:`recsys.evaluation.Evaluation`, per-user arrays included; ``recs`` holds the
        test users' top-k lists (item numbers, rows aligned with ``users``), None for runs saved before
        they were stored."""
        from recsys.evaluation import Evaluation

        document, per_user, users, recs = self._evaluation_files(run_id)
        document = dict(document, users=users, per_user=per_user, recs=recs)
        return Evaluation.from_dict(document)

    def _evaluation_files(
        self, run_id: int
    ) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray, np.ndarray | None]:
        """(document, per-user metric arrays, test users, their top-k lists or None for older runs)."""
        folder = self.run_dir(run_id)
        if not (folder / "evaluation.json").exists():
            raise StoreError(f"Run {run_id} has no metrics (status: {self.run(run_id)['status']}).")
        try:
            document = json.loads((folder / "evaluation.json").read_text())
            with np.load(folder / "per_user.npz", allow_pickle=False) as npz:
                per_user = {name[len("metric."):]: npz[name] for name in npz.files if name.startswith("metric.")}
                users = npz["users"]
                recs = npz["recs"] if "recs" in npz.files else None
        except Exception as exc:  # noqa: BLE001 - a damaged file must read as one sentence
            raise self._damaged_files(run_id, "evaluation", exc) from exc
        return document, per_user, users, recs

    def run_recommendations(self, run_id: int, staged: bool = False) -> pd.DataFrame:
        """Top-20 recommendations for every user of a finished run: user, item, rank, score, in the
        file's own ids; from the serving model, never an item the user has anywhere in the data. With
        ``staged``: the ones this process has just written into :meth:`staging_dir` (the worker, before
        the run is done)."""
        path = (self.staging_dir(run_id) if staged else self.run_dir(run_id)) / "recommendations.parquet"
        if not path.exists():
            raise StoreError(f"Run {run_id} has no recommendations (status: {self.run(run_id)['status']}).")
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - a damaged file must read as one sentence
            raise self._damaged_files(run_id, "recommendations", exc) from exc

    def save_run_exposure(self, run_id: int, exposure: dict[str, Any]) -> None:
        """Write a run's exposure figures (:func:`recsys.exposure.list_exposure`, a JSON-able dict) into its
        staging folder, beside the recommendations they were computed from."""
        folder = self.staging_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / "exposure.json", _json(_clean(exposure)).encode())

    def run_exposure(self, run_id: int) -> dict[str, Any] | None:
        """The exposure figures stored with a finished run; None for runs stored before they were kept."""
        path = self.run_dir(run_id) / "exposure.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except Exception as exc:  # noqa: BLE001 - a damaged file must read as one sentence
            raise self._damaged_files(run_id, "exposure figures", exc) from exc

    # -- workers and the queue (the run-state changes recsys.jobs asks for) -------------------------
    def workers(self) -> list[dict[str, Any]]:
        """Every worker row (id, pid, host, device, state, run_id, started_at, heartbeat_at), oldest first."""
        with self.connect() as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM workers ORDER BY started_at")]

    def queued_count(self) -> int:
        """How many runs wait in the queue."""
        with self.connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM runs WHERE status='queued'").fetchone()[0])

    def reap_dead_workers(self, problem: Callable[[dict[str, Any]], str | None]) -> list[int]:
        """Mark ``interrupted`` (with the reason) every running run whose worker is dead or gone, remove
        their files, and forget dead workers. ``problem(worker_row)`` says why a worker is dead, or None
        while it lives. One transaction. Returns the ids of the runs marked (none on a read-only store)."""
        if self.read_only:
            return []
        now = time.time()
        marked: list[int] = []
        with self.transaction() as conn:
            workers = {w["id"]: dict(w) for w in conn.execute("SELECT * FROM workers")}
            dead = {wid: why for wid, w in workers.items() if (why := problem(w))}
            running = conn.execute(
                "SELECT r.id, r.worker_id, r.epochs_total, (SELECT COUNT(*) FROM epochs e WHERE e.run_id=r.id)"
                " AS done FROM runs r WHERE r.status='running'"
            ).fetchall()
            for run in running:
                wid = run["worker_id"]
                if wid in workers and wid not in dead:
                    continue
                why = dead.get(wid, "its worker is gone")
                where = f" during epoch {run['done'] + 1} of {run['epochs_total']}" if run["epochs_total"] else ""
                conn.execute(
                    "UPDATE runs SET status='interrupted', phase=NULL, finished_at=?, error=? WHERE id=?",
                    (now, f"Interrupted{where}: {why}. Submit it again to retry.", run["id"]),
                )
                marked.append(int(run["id"]))
            for wid in dead:
                conn.execute("DELETE FROM workers WHERE id=?", (wid,))
        for run_id in marked:  # an interrupted run keeps no files (a dead worker may have staged some)
            with contextlib.suppress(OSError):
                self.discard_run_files(run_id)
        return marked

    def start_worker_if_none(self, host: str, spawn: Callable[[], int]) -> bool:
        """When runs are queued and no worker row exists, call ``spawn()`` (which starts a worker process
        and returns its pid) and record that worker as ``starting``. The check and the record are one
        transaction, so concurrent callers start one worker. True when one was started (never on a
        read-only store: a worker could not record anything)."""
        if self.read_only:
            return False
        with self.connect() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE status='queued' LIMIT 1").fetchone() is None:
                return False
        with self.transaction() as conn:  # serialises concurrent callers: one starts, the rest see it
            if conn.execute("SELECT 1 FROM workers LIMIT 1").fetchone() is not None:
                return False
            pid = int(spawn())
            now = time.time()
            conn.execute(
                "INSERT OR REPLACE INTO workers (id, pid, host, state, started_at, heartbeat_at)"
                " VALUES (?,?,?,'starting',?,?)",
                (f"{host}:{pid}", pid, host, now, now),
            )
        return True

    def register_worker(self, worker_id: str, pid: int, host: str) -> None:
        """Record a worker process as alive and idle (its heartbeat starts now)."""
        now = time.time()
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers (id, pid, host, state, started_at, heartbeat_at)"
                " VALUES (?,?,?,'idle',?,?)",
                (worker_id, int(pid), host, now, now),
            )

    def heartbeat(self, worker_id: str, **fields: Any) -> None:
        """Refresh a worker's heartbeat, setting ``state``, ``run_id`` or ``device`` too when given."""
        unknown = set(fields) - {"state", "run_id", "device"}
        if unknown:
            raise StoreError(f"Cannot set {sorted(unknown)} on a worker.")
        sets = "".join(f"{k}=?, " for k in fields)
        with self.transaction() as conn:
            conn.execute(f"UPDATE workers SET {sets}heartbeat_at=? WHERE id=?", (*fields.values(), time.time(), worker_id))

    def retire_worker(self, worker_id: str, device_of: Callable[[str | None], str] | None = None) -> bool:
        """Remove a worker's row. With ``device_of`` (requested device -> the device it books), only when
        no queued run could start on a device that is not busy (work that arrived meanwhile keeps the
        worker). True when retired."""
        with self.transaction() as conn:
            if device_of is not None:
                busy = {device_of(row[0]) for row in conn.execute("SELECT device FROM runs WHERE status='running'")}
                for row in conn.execute("SELECT device_requested FROM runs WHERE status='queued'"):
                    if device_of(row[0]) not in busy:
                        return False
            conn.execute("DELETE FROM workers WHERE id=?", (worker_id,))
        return True

    def claim_next_run(self, worker_id: str, device_of: Callable[[str | None], str]) -> int | None:
        """Atomically take the oldest queued run whose device is free (one run at a time per device):
        mark it ``running`` by this worker on ``device_of(device_requested)`` and return its id; None when
        there is nothing to take."""
        with self.transaction() as conn:
            busy = {device_of(row[0]) for row in conn.execute("SELECT device FROM runs WHERE status='running'")}
            for row in conn.execute("SELECT id, device_requested FROM runs WHERE status='queued' ORDER BY id").fetchall():
                device = device_of(row["device_requested"])
                if device in busy:
                    continue
                cur = conn.execute(
                    "UPDATE runs SET status='running', phase='loading', device=?, worker_id=?, started_at=?"
                    " WHERE id=? AND status='queued'",
                    (device, worker_id, time.time(), row["id"]),
                )
                if cur.rowcount:
                    conn.execute("UPDATE workers SET run_id=?, device=?, state='busy' WHERE id=?",
                                 (row["id"], device, worker_id))
                    return int(row["id"])
        return None

    def run_ownership(self, run_id: int, worker_id: str) -> tuple[bool, bool]:
        """(the run is still running by this worker, it was asked to stop). A deleted run is (False, True)."""
        with self.connect() as conn:
            row = conn.execute("SELECT status, worker_id, cancel_requested FROM runs WHERE id=?",
                               (int(run_id),)).fetchone()
        if row is None:
            return False, True
        return row["status"] == "running" and row["worker_id"] == worker_id, bool(row["cancel_requested"])

    @_faults_plain
    def finish_run(self, run_id: int, worker_id: str, status: str, error: str | None = None, **extra: Any) -> bool:
        """Set a final status, only if this worker still owns the run (it may have been deleted, or marked
        interrupted by someone who thought this worker dead). True when the row was changed.

        ``done`` takes the files :meth:`save_run_results` staged: the same transaction that marks the run
        done (with its summary and CIs) writes its manifest and renames the staging folder to
        :meth:`run_dir`, so a run is never done without its files. Any other status removes the run's
        files first (which also frees the space a full disk needs to record the failure)."""
        if status not in FINISHED:
            raise StoreError(f"{status!r} is not a final run status.")
        if status != "done":
            with self.connect() as conn:
                row = conn.execute("SELECT status FROM runs WHERE id=?", (int(run_id),)).fetchone()
            if row is None or row["status"] != "done":  # a done run keeps its files, whoever asks
                self.discard_run_files(run_id, staging_of_other_processes=False)
        staging = self.staging_dir(run_id)
        if status == "done":
            if not staging.is_dir():
                raise StoreError(f"Run {run_id} has no saved results to finish with.")
            document_path = staging / "evaluation.json"
            if document_path.is_file():
                document = json.loads(document_path.read_text())
                extra = {"summary": document.get("summary") or {}, "ci": document.get("ci") or {}, **extra}
        fields = {"status": status, "phase": None, "error": error, "finished_at": time.time(), **extra}
        unknown = set(fields) - _RUN_SETTABLE
        if unknown:
            raise StoreError(f"Cannot set {sorted(unknown)} on a run.")
        values = [(_json(_clean(v)) if k in _RUN_JSON else v) for k, v in fields.items()]
        sets = ", ".join(f"{k}=?" for k in fields)
        try:
            with self.transaction() as conn:
                cur = conn.execute(
                    f"UPDATE runs SET {sets} WHERE id=? AND status='running' AND worker_id=?",
                    (*values, int(run_id), worker_id),
                )
                if not cur.rowcount or status != "done":
                    return bool(cur.rowcount)
                row = conn.execute("SELECT * FROM runs WHERE id=?", (int(run_id),)).fetchone()
                epochs = [dict(r) for r in conn.execute("SELECT * FROM epochs WHERE run_id=? ORDER BY epoch",
                                                        (int(run_id),))]
                _write_manifest(staging, "run", int(run_id), _row_for_manifest(row), epochs=epochs,
                                trials=_trial_rows(conn, run_id))
                _move_into(staging, self.run_dir(run_id))  # if the commit then fails: files of a run not done,
                return True  # which the reaper or the sweep removes
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def discard_run_files(self, run_id: int, staging_of_other_processes: bool = True) -> None:
        """Remove a run's folder and its staging folders (this process's; with
        ``staging_of_other_processes`` every process's, for a run whose worker is gone)."""
        remove_tree(self.run_dir(run_id))
        pattern = f".staging-{int(run_id)}-*" if staging_of_other_processes else self.staging_dir(run_id).name
        for path in (self.home / "runs").glob(pattern):
            shutil.rmtree(path, ignore_errors=True)

    def start_baseline_run(self, run: dict[str, Any], worker_id: str) -> int | None:
        """Insert the Popularity baseline of ``run``'s dataset and split as a run already ``running`` by
        this worker, unless one is done, running or queued. Returns its id, or None when not needed."""
        with self.transaction() as conn:
            exists = conn.execute(
                "SELECT 1 FROM runs WHERE dataset_id=? AND protocol=? AND seed=? AND model='popularity'"
                " AND status IN ('done','running','queued') LIMIT 1",
                (run["dataset_id"], run["protocol"], run["seed"]),
            ).fetchone()
            if exists:
                return None
            _reserve_ids(conn, "runs", self.home / "runs")
            now = time.time()
            cur = conn.execute(
                "INSERT INTO runs (dataset_id, model, params, protocol, seed, k, device_requested, device, status,"
                " phase, is_baseline, worker_id, created_at, started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run["dataset_id"], "popularity", "{}", run["protocol"], run["seed"], run["k"],
                 run["device_requested"], run["device"], "running", "training", 1, worker_id, now, now),
            )
            return int(cur.lastrowid)

    # -- housekeeping: the sweep, manifests, quarantine ------------------------------------------
    def sweep_orphans(self, min_age_seconds: float = 3600.0) -> Sweep:
        """Tidy ``datasets/`` and ``runs/`` without ever losing data. Removed: folders whose row a delete
        removed (recorded in ``deleted``), files of runs that ended without being done, staging folders
        of runs no longer running, and staging or trash folders older than ``min_age_seconds``. Kept:
        every numbered folder without a row that carries its manifest (``doctor --repair`` rebuilds the
        row). Moved to ``quarantine/``: anything else no row, manifest or delete explains. The scan holds
        the write lock, so nothing being registered or finished is mistaken for an orphan."""
        sweep = Sweep()
        remove: list[Path] = []
        now = time.time()
        with self.transaction() as conn:
            rows = {
                "datasets": {int(r[0]): None for r in conn.execute("SELECT id FROM datasets")},
                "runs": {int(r[0]): r[1] for r in conn.execute("SELECT id, status FROM runs")},
            }
            deleted = {(r[0], int(r[1])) for r in conn.execute("SELECT kind, id FROM deleted")}
            for sub, kind in (("datasets", "dataset"), ("runs", "run")):
                for path in sorted((self.home / sub).iterdir()):
                    name = path.name
                    if name.startswith((".trash-", ".staging-")):
                        owner = _staged_run_id(name) if sub == "runs" else None
                        with contextlib.suppress(OSError):
                            if (owner is not None and rows["runs"].get(owner) != "running") or (
                                    now - path.stat().st_mtime > min_age_seconds):
                                remove.append(path)
                        continue
                    if not (name.isdigit() and path.is_dir()):
                        sweep.quarantined.append(self._quarantine(path, f"not a {kind} folder"))
                        continue
                    number = int(name)
                    if number in rows[sub]:
                        if sub == "runs" and rows["runs"][number] not in ("done", "running"):
                            remove.append(_aside(path))  # a run that ended not done keeps no files
                        continue
                    if (kind, number) in deleted:
                        remove.append(_aside(path))  # out of sight at once; deleted after the lock is released
                        conn.execute("DELETE FROM deleted WHERE kind=? AND id=?", (kind, number))
                    elif _read_manifest(path, kind, number) is not None:
                        sweep.rebuildable.append(f"{sub}/{name}")
                    else:
                        sweep.quarantined.append(self._quarantine(path, f"a {kind} folder with no row and no manifest"))
        for path in remove:
            shutil.rmtree(path, ignore_errors=True)
        sweep.removed = [str(p.relative_to(self.home)) for p in remove]
        return sweep

    def _quarantine(self, path: Path, why: str) -> str:
        """Move ``path`` into ``quarantine/`` (never delete it) and note why in ``quarantine/log.txt``.
        Returns where it went, relative to the data folder."""
        folder = self.quarantine_dir()
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = folder / f"{stamp}-{path.parent.name}-{path.name.lstrip('.')}"
        suffix = 1
        while target.exists():
            suffix += 1
            target = folder / f"{stamp}-{path.parent.name}-{path.name.lstrip('.')}-{suffix}"
        os.replace(path, target)
        with open(folder / "log.txt", "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {path.relative_to(self.home)} -> {target.name}: {why}\n")
        return str(target.relative_to(self.home))

    def _forget_deleted(self, items: list[tuple[str, int]]) -> None:
        """Drop the records of deletes whose folders are gone (best effort: the sweep finishes the job)."""
        with contextlib.suppress(StoreError):
            with self.transaction() as conn:
                conn.executemany("DELETE FROM deleted WHERE kind=? AND id=?", items)

    def write_missing_manifests(self) -> list[str]:
        """Write ``manifest.json`` into every dataset folder and every done run's folder that lacks a
        readable one (folders made before manifests existed). Returns the folders written."""
        written = []
        with self.transaction() as conn:
            for row in conn.execute("SELECT * FROM datasets ORDER BY id").fetchall():
                folder = self.dataset_dir(row["id"])
                if folder.is_dir() and _read_manifest(folder, "dataset", row["id"]) is None:
                    _write_manifest(folder, "dataset", int(row["id"]), _row_for_manifest(row))
                    written.append(f"datasets/{row['id']}")
            for row in conn.execute("SELECT * FROM runs WHERE status='done' ORDER BY id").fetchall():
                folder = self.run_dir(row["id"])
                if folder.is_dir() and _read_manifest(folder, "run", row["id"]) is None:
                    epochs = [dict(r) for r in conn.execute("SELECT * FROM epochs WHERE run_id=? ORDER BY epoch",
                                                            (row["id"],))]
                    _write_manifest(folder, "run", int(row["id"]), _row_for_manifest(row), epochs=epochs,
                                    trials=_trial_rows(conn, row["id"]))
                    written.append(f"runs/{row['id']}")
        return written

    def rebuild_from_manifests(self) -> tuple[list[str], list[str]]:
        """Insert the row of every dataset and run folder that has a manifest but no row (datasets first,
        so their runs can follow), each under its own id. Returns (what was restored, what could not be,
        with the reason)."""
        restored: list[str] = []
        skipped: list[str] = []
        with self.transaction() as conn:
            dataset_columns = _table_columns(conn, "datasets")
            run_columns = _table_columns(conn, "runs")
            epoch_columns = _table_columns(conn, "epochs")
            trial_columns = _table_columns(conn, "trials")
            known = {int(r[0]) for r in conn.execute("SELECT id FROM datasets")}
            for path in _numbered(self.home / "datasets"):
                number = int(path.name)
                manifest = _read_manifest(path, "dataset", number)
                if number in known or manifest is None:
                    continue
                problem = _unreadable_parquet(path / "interactions.parquet")
                if problem:
                    skipped.append(f"dataset {number}: {problem}")
                    continue
                row = {k: v for k, v in manifest["row"].items() if k in dataset_columns and k != "id"}
                row["registration"] = _registration_key(row["content_hash"], json.loads(row.get("columns") or "{}"))
                if conn.execute("SELECT 1 FROM datasets WHERE registration=?", (row["registration"],)).fetchone():
                    row["registration"] = None  # the same file was registered again meanwhile: keep both
                _insert(conn, "datasets", {"id": number, **row})
                known.add(number)
                restored.append(f"dataset {number} ({row.get('name')})")
            runs = {int(r[0]) for r in conn.execute("SELECT id FROM runs")}
            for path in _numbered(self.home / "runs"):
                number = int(path.name)
                manifest = _read_manifest(path, "run", number)
                if number in runs or manifest is None:
                    continue
                row = {k: v for k, v in manifest["row"].items() if k in run_columns and k != "id"}
                if int(row.get("dataset_id") or -1) not in known:
                    skipped.append(f"run {number}: its dataset {row.get('dataset_id')} is gone")
                    continue
                if not (path / "model" / "model.json").is_file():
                    skipped.append(f"run {number}: its saved model is missing")
                    continue
                row.update(status="done", worker_id=None, phase=None)
                _insert(conn, "runs", {"id": number, **row})
                for epoch in manifest.get("epochs") or []:
                    _insert(conn, "epochs", {k: v for k, v in epoch.items() if k in epoch_columns} | {"run_id": number})
                for trial in manifest.get("trials") or []:
                    _insert(conn, "trials", {k: v for k, v in trial.items() if k in trial_columns} | {"run_id": number})
                restored.append(f"run {number} ({row.get('model')} on dataset {row.get('dataset_id')})")
        return restored, skipped

    @_faults_plain
    def save_serving_model(
        self, run_id: int, model, everything: Interactions | None = None, k: int = RECOMMENDATIONS_K
    ) -> None:
        """Stage a run's serving model (the run's settings refitted on every interaction) beside its
        evaluated one, and its top-``k`` recommendations for every user in ``recommendations.parquet``;
        like :meth:`save_run_results`, they become the run's files when :meth:`finish_run` marks it done.
        Items the user has in the model's training data are left out, and so is everything they have in
        ``everything`` (the whole dataset, in the same numbering). Each file is written atomically."""
        folder = self.staging_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        model.save(folder / "serving")
        _fsync_tree(folder / "serving")
        seen = None if everything is None else everything.to_csr(use_values=False)
        recs = model.recommend_frame(k=k, exclude=seen)
        recs["user"] = recs["user"].astype(str) if recs["user"].dtype == object else recs["user"]
        recs["item"] = recs["item"].astype(str) if recs["item"].dtype == object else recs["item"]
        atomic_write(folder / "recommendations.parquet", lambda tmp: recs.to_parquet(tmp, index=False))

    # -- what finished runs cost (read by recsys.jobs to calibrate its estimates) ------------------
    def save_run_usage(self, run_id: int, usage: dict[str, Any]) -> None:
        """Record what a finished run used (``peak_memory_bytes``: the worker's peak resident memory
        during the run, or the GPU's peak allocation) in ``runs/<id>/usage.json``."""
        folder = self.run_dir(run_id)
        if folder.is_dir():
            atomic_write_bytes(folder / "usage.json", _json(_clean(dict(usage))).encode())

    def run_costs(self, model: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The newest finished (``done``) runs trained on this machine (not on Spark, whose times are the
        cluster's) without tuning (a tuning run's time is its budget, not what the model costs), of
        ``model`` when given, with what each cost and on what data: ``id, model, params,
        device, seconds`` (start to finish), ``epochs_done``, ``is_baseline``, ``n_users, n_items,
        n_interactions`` (of the whole dataset), ``estimate`` (the dict stored when it was queued) and
        ``peak_memory_bytes`` (None where it was not measured)."""
        clause, args = ("AND r.model=?", (str(model),)) if model is not None else ("", ())
        sql = f"""
            SELECT r.id, r.model, r.params, r.device, r.estimate, r.is_baseline,
                r.finished_at - r.started_at AS seconds,
                (SELECT COUNT(*) FROM epochs e WHERE e.run_id=r.id) AS epochs_done,
                d.n_users, d.n_items, d.n_interactions
            FROM runs r JOIN datasets d ON d.id = r.dataset_id
            WHERE r.status='done' AND r.started_at IS NOT NULL AND r.finished_at IS NOT NULL
                AND COALESCE(json_extract(r.engine, '$.name'), 'local') = 'local' AND r.tune IS NULL {clause}
            ORDER BY r.id DESC LIMIT ?
        """
        with self.connect() as conn:
            rows = [dict(r) for r in conn.execute(sql, (*args, int(limit))).fetchall()]
        for row in rows:
            row["params"] = json.loads(row["params"] or "{}")
            row["estimate"] = json.loads(row["estimate"] or "{}")
            row["is_baseline"] = bool(row["is_baseline"])
            usage = self.run_dir(row["id"]) / "usage.json"
            try:
                row["peak_memory_bytes"] = json.loads(usage.read_text()).get("peak_memory_bytes")
            except (OSError, ValueError):
                row["peak_memory_bytes"] = None
        return rows


@dataclass
class Sweep:
    """What :meth:`Store.sweep_orphans` did: folders ``removed`` and ``quarantined`` (paths relative to
    the data folder), and folders kept that ``doctor --repair`` can rebuild rows for (``rebuildable``)."""

    removed: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    rebuildable: list[str] = field(default_factory=list)


# -- the doctor ----------------------------------------------------------------------------------
STALE_SECONDS = 3600.0  # a staging or trash folder older than this is left over from a crash


@dataclass
class DoctorReport:
    """What :func:`doctor` found: ``problems`` still there, ``repaired`` (what ``repair`` did), ``facts``
    (counts). ``ok`` when no problem remains."""

    home: Path
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_text(self) -> str:
        lines = [f"Data folder: {self.home}", *(f"  {fact}" for fact in self.facts)]
        if self.repaired:
            lines += ["Repaired:", *(f"  - {line}" for line in self.repaired)]
        if self.problems:
            lines += ["Problems:", *(f"  - {line}" for line in self.problems)]
        else:
            lines.append("No problems found.")
        return "\n".join(lines)


def doctor(home: str | os.PathLike | None = None, repair: bool = False) -> DoctorReport:
    """Check the data folder: the database's integrity, rows against folders (missing files, folders
    without rows, files of runs that are not done), manifests, and stale staging or trash folders.
    With ``repair``: a damaged database is moved to ``quarantine/`` and rebuilt; rows are rebuilt from
    manifests; missing manifests are written; leftovers are removed and unexplained folders quarantined.
    Nothing a manifest describes is ever deleted."""
    home_path = Path(home).expanduser().resolve() if home is not None else default_home()
    report = DoctorReport(home=home_path)
    store: Store | None = None
    try:
        store = Store(home_path)
        damaged = _integrity_problem(store)
    except StoreFault as exc:
        if exc.kind != "damaged":
            report.problems.append(str(exc))
            return report
        damaged = "its pages cannot be read" if store is not None else "it is not a readable SQLite database"
    if damaged:
        if not repair:
            report.problems.append(f"The database is damaged ({damaged}): run `python -m recsys doctor --repair` "
                                   "to set it aside and rebuild it from the folders.")
            if store is not None:
                with contextlib.suppress(StoreFault):
                    report.facts += _store_facts(store, integrity="FAILED")
            return report
        else:
            moved = _set_database_aside(home_path)
            report.repaired.append(f"set the damaged database aside as {moved}; rebuilt a new one from the folders "
                                   "(queued, failed and cancelled runs, which keep no files, are not restored)")
            store = Store(home_path)
    assert store is not None
    if store.read_only:
        report.problems.append(str(store.read_only_reason))
        repair = False
    if repair:
        restored, skipped = store.rebuild_from_manifests()
        report.repaired += [f"restored {line} from its manifest" for line in restored]
        report.problems += [f"could not restore {line}" for line in skipped]
        report.repaired += [f"wrote the missing manifest of {line}" for line in store.write_missing_manifests()]
        sweep = store.sweep_orphans(min_age_seconds=STALE_SECONDS)
        report.repaired += [f"removed {line} (deleted, left over, or files of a run not done)" for line in sweep.removed]
        report.repaired += [f"moved an unexplained folder to {line}" for line in sweep.quarantined]
    report.problems += _folder_problems(store)
    report.facts += _store_facts(store)
    return report


def _integrity_problem(store: Store) -> str | None:
    with store.connect() as conn:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        foreign = conn.execute("PRAGMA foreign_key_check").fetchall()
    if result != ["ok"]:
        return "; ".join(str(r) for r in result[:3])
    if foreign:
        return f"{len(foreign)} rows point at rows that do not exist"
    return None


def _set_database_aside(home: Path) -> str:
    folder = home / QUARANTINE
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder / f"{DB_NAME}.damaged-{stamp}"
    for suffix in ("", "-wal", "-shm"):
        source = home / f"{DB_NAME}{suffix}"
        if source.exists():
            os.replace(source, target.with_name(target.name + suffix))
    return str(target.relative_to(home))


def _folder_problems(store: Store) -> list[str]:
    """Every disagreement between rows and folders, in words, with what to do."""
    problems = []
    now = time.time()
    with store.connect() as conn:
        datasets = conn.execute("SELECT * FROM datasets ORDER BY id").fetchall()
        runs = conn.execute("SELECT id, status, model, dataset_id FROM runs ORDER BY id").fetchall()
        deleted = {(r[0], int(r[1])) for r in conn.execute("SELECT kind, id FROM deleted")} if not store.read_only else set()
    dataset_ids = {int(r["id"]) for r in datasets}
    run_status = {int(r["id"]): r["status"] for r in runs}
    for row in datasets:
        issues = store.dataset_problems(row["id"])
        if issues:
            problems.append(f"dataset {row['id']} ({row['name']}): {'; '.join(issues)}: upload the same file again "
                            "to repair it, or delete the dataset")
        elif _read_manifest(store.dataset_dir(row["id"]), "dataset", row["id"]) is None:
            problems.append(f"dataset {row['id']} has no manifest: `doctor --repair` writes it")
    for row in runs:
        folder = store.run_dir(row["id"])
        if row["status"] == "done":
            missing = [name for name in RUN_FILES if not (folder / name).exists()]
            if missing:
                problems.append(f"run {row['id']} ({row['model']}) is done but {', '.join(missing)} "
                                "missing: delete it and train it again")
            elif _read_manifest(folder, "run", row["id"]) is None:
                problems.append(f"run {row['id']} has no manifest: `doctor --repair` writes it")
        elif row["status"] != "running" and folder.exists():
            problems.append(f"run {row['id']} is {row['status']} but still has files: `doctor --repair` removes them")
    for sub, kind, known in (("datasets", "dataset", dataset_ids), ("runs", "run", set(run_status))):
        for path in sorted((store.home / sub).iterdir()):
            name = path.name
            if name.startswith((".trash-", ".staging-")):
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime > STALE_SECONDS:
                        problems.append(f"{sub}/{name} is left over from an interrupted write: `doctor --repair` "
                                        "removes it")
                continue
            if not (name.isdigit() and path.is_dir()):
                problems.append(f"{sub}/{name} is not a {kind} folder: `doctor --repair` moves it to quarantine/")
            elif int(name) in known:
                continue
            elif (kind, int(name)) in deleted:
                problems.append(f"{sub}/{name} belongs to a deleted {kind}: `doctor --repair` removes it")
            elif _read_manifest(path, kind, int(name)) is not None:
                problems.append(f"{sub}/{name} has no row in the database: `doctor --repair` rebuilds it from "
                                "its manifest")
            else:
                problems.append(f"{sub}/{name} has no row and no manifest: `doctor --repair` moves it to quarantine/")
    return problems


def _store_facts(store: Store, integrity: str = "ok") -> list[str]:
    with store.connect() as conn:
        n_datasets = conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0]
        by_status = dict(conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
        copies = conn.execute("SELECT COUNT(*) FROM datasets WHERE registration IS NULL").fetchone()[0] \
            if "registration" in _table_columns(conn, "datasets") else 0
    runs = ", ".join(f"{n} {status}" for status, n in sorted(by_status.items())) or "none"
    facts = [f"database: schema {store.schema_version()}, integrity {integrity}" + (" (opened read-only)" if store.read_only else ""),
             f"datasets: {n_datasets}", f"runs: {runs}"]
    if copies:
        facts.append(f"{copies} dataset(s) repeat a file registered earlier (made before registrations were unique, "
                     "or restored beside a re-upload): delete the copies you do not need")
    quarantine = store.quarantine_dir()
    if quarantine.is_dir():
        entries = [p for p in quarantine.iterdir() if p.name != "log.txt"]
        if entries:
            facts.append(f"quarantine/ holds {len(entries)} item(s) set aside (see quarantine/log.txt); "
                         "nothing there is used")
    return facts



# -- manifests and folder helpers -------------------------------------------------------------------
RUN_FILES = ("model/model.json", "evaluation.json", "per_user.npz", "recommendations.parquet")


def _row_for_manifest(row: sqlite3.Row) -> dict[str, Any]:
    """A database row as plain JSON values: everything needed to insert it again (``registration`` is
    recomputed on rebuild, so it is left out)."""
    return {key: row[key] for key in row.keys() if key != "registration"}


def _write_manifest(folder: Path, kind: str, number: int, row: dict[str, Any], **more: Any) -> None:
    """``folder/manifest.json``: ``{"format", "kind", "id", "row", ...}``, written atomically."""
    document = {"format": MANIFEST_FORMAT, "kind": kind, "id": int(number), "row": _clean(row), **_clean(more)}
    atomic_write_bytes(folder / MANIFEST, json.dumps(document, indent=1, allow_nan=False).encode())


def _read_manifest(folder: Path, kind: str, number: int) -> dict[str, Any] | None:
    """The manifest of ``folder`` when it is readable and describes this ``kind`` and ``number``."""
    try:
        document = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("row"), dict):
        return None
    if document.get("kind") != kind or document.get("id") != int(number):
        return None
    return document


def _registration_key(content_hash: str, columns: dict | None) -> str:
    """What makes a registration unique: the file's bytes (sha256) and its column mapping."""
    return f"{content_hash}|{json.dumps(_clean(dict(columns or {})), sort_keys=True)}"


def _register_existing_datasets(conn: sqlite3.Connection) -> None:
    """Migration 2: give each existing dataset its registration key; a second dataset with the same
    bytes and mapping (registered before keys were unique) keeps NULL: it stays, marked as a copy."""
    seen: set[str] = set()
    for row in conn.execute("SELECT id, content_hash, columns FROM datasets ORDER BY id").fetchall():
        key = _registration_key(row["content_hash"], json.loads(row["columns"] or "{}"))
        if key not in seen:
            seen.add(key)
            conn.execute("UPDATE datasets SET registration=? WHERE id=?", (key, row["id"]))


def _numbered(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.name.isdigit() and p.is_dir()), key=lambda p: int(p.name))


def _reserve_ids(conn: sqlite3.Connection, table: str, folder: Path) -> None:
    """Make the next id of ``table`` larger than every numbered folder and recorded delete, so a new
    database beside existing folders never hands out a number a folder already holds."""
    top = max((int(p.name) for p in folder.iterdir() if p.name.isdigit()), default=0)
    kind = "dataset" if table == "datasets" else "run"
    top = max(top, int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM deleted WHERE kind=?", (kind,)).fetchone()[0]))
    if not top:
        return
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name=?", (table,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, top))
    elif int(row[0]) < top:
        conn.execute("UPDATE sqlite_sequence SET seq=? WHERE name=?", (top, table))


def _record_deleted(conn: sqlite3.Connection, items: list[tuple[str, int]]) -> None:
    now = time.time()
    conn.executemany("INSERT OR REPLACE INTO deleted (kind, id, at) VALUES (?,?,?)",
                     [(kind, int(number), now) for kind, number in items])


def _table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _insert(conn: sqlite3.Connection, table: str, values: dict[str, Any]) -> None:
    names = list(values)
    conn.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                 [values[n] for n in names])


def _unreadable_parquet(path: Path) -> str | None:
    import pyarrow.parquet as pq

    if not path.is_file():
        return f"{path.name} is missing"
    try:
        pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - any reason the file cannot be read means it is damaged
        return f"{path.name} is damaged"
    return None


def _staged_run_id(name: str) -> int | None:
    """The run id in a run staging folder's name (``.staging-<run>-<pid>``), else None."""
    parts = name.split("-")
    return int(parts[1]) if name.startswith(".staging-") and len(parts) == 3 and parts[1].isdigit() else None


def _aside(path: Path) -> Path:
    """Rename ``path`` to a trash name beside it (out of sight at once) and return the new path."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{time.monotonic_ns()}")
    os.replace(path, trash)
    return trash


def _move_into(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; when ``target`` exists, move each entry of ``source`` into it
    (replacing entries of the same name)."""
    if not target.exists():
        os.replace(source, target)
    else:
        for entry in source.iterdir():
            if (target / entry.name).is_dir():
                remove_tree(target / entry.name)
            os.replace(entry, target / entry.name)
        shutil.rmtree(source, ignore_errors=True)
    _fsync_dir(target.parent)


_RUN_COLUMNS = (
    "id", "dataset_id", "dataset_name", "model", "params", "protocol", "seed", "k", "device_requested", "device",
    "status", "phase", "error", "is_baseline", "cancel_requested", "worker_id", "created_at", "started_at",
    "finished_at", "duration_seconds", "epochs_done", "epochs_total", "last_loss", "last_validation",
    "epoch_seconds", "estimate", "summary", "ci", "engine", "tune", "trials_done",
)


def _run_record(row: sqlite3.Row) -> dict[str, Any]:
    rec = {key: row[key] for key in row.keys() if key in _RUN_COLUMNS}
    for key in ("params", "estimate", "summary", "ci", "engine"):
        rec[key] = json.loads(row[key] or "{}")
    rec["tune"] = json.loads(row["tune"]) if row["tune"] else None  # None: not a tuning run
    rec["trials_done"] = int(row["trials_done"] or 0)
    rec["is_baseline"] = bool(row["is_baseline"])
    rec["cancel_requested"] = bool(row["cancel_requested"])
    started, finished = row["started_at"], row["finished_at"]
    if started is None:
        rec["duration_seconds"] = None
    else:
        rec["duration_seconds"] = (finished if finished is not None else time.time()) - started
    rec["epochs_done"] = int(row["epochs_done"] or 0)
    return {key: rec.get(key) for key in _RUN_COLUMNS}


def _trial_rows(conn: sqlite3.Connection, run_id: int) -> list[dict[str, Any]]:
    """A run's trial rows as stored (for its manifest)."""
    return [dict(r) for r in conn.execute("SELECT * FROM trials WHERE run_id=? ORDER BY number", (int(run_id),))]


def _trial_record(row: sqlite3.Row) -> dict[str, Any]:
    rec = dict(row)
    rec["params"] = json.loads(rec["params"] or "{}")
    rec["epochs"] = json.loads(rec["epochs"] or "[]")
    rec.pop("run_id", None)
    return rec


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


def _with_catalog(report: dict, coverage: dict, catalog_hash: str) -> dict:
    """A dataset's report dict with a new catalogue's coverage in place of the old one's (its warning
    and its content-model suggestion recomputed)."""
    from recsys.data import DataReport

    old = DataReport.from_dict(report or {})
    old.warnings = [w for w in old.warnings if "have no catalogue entry" not in w]
    old.suggested_models = [m for m in old.suggested_models if m.get("model") != "content"]
    old.add_catalog(coverage)
    out = dict(report or {})
    out.update({k: v for k, v in old.to_dict().items() if k in ("warnings", "suggested_models", "catalog")})
    out["catalog"] = dict(out.get("catalog") or {}, hash=catalog_hash)
    return out


def _frame_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    digest.update(buffer.getvalue())
    return digest.hexdigest()


def _split_evaluation(evaluation) -> tuple[dict, dict, dict, dict[str, np.ndarray]]:
    """(summary, ci, JSON document without per-user arrays, arrays for the npz) of an Evaluation.
    The npz holds ``users`` (test user numbers), one float array per metric aligned with it, and
    ``recs`` (the top-k item numbers, one row per test user) when the evaluation has them."""
    document = evaluation.to_dict(include_recs=False)
    document.pop("per_user", None)
    document.pop("users", None)
    arrays = {"users": np.asarray(evaluation.users, dtype=np.int64)}
    for name, values in evaluation.per_user.items():
        arrays[f"metric.{name}"] = np.asarray(values, dtype=np.float64)
    if evaluation.recs is not None:
        arrays["recs"] = np.asarray(evaluation.recs, dtype=np.int64)
    return _clean(document.get("summary", {})), _clean(document.get("ci", {})), _clean(document), arrays
