"""Store faults under real conditions: a small tmpfs filled to the brim (disk full), the same file system
remounted read-only, a database file overwritten with junk, damaged model files. Each gives one plain
sentence (what happened, what to do) from the CLI (exit 2) and the dashboard, never an exception name.

Mounting needs root (as in this project's sandbox); elsewhere the mount tests skip and say why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import jobs
from recsys.store import DB_NAME, SCHEMA_VERSION, Store, StoreError, StoreFault, doctor

ROOT = Path(__file__).resolve().parents[1]
RAW_NAMES = ("OperationalError", "DatabaseError", "unexpected error", "Traceback", "sqlite3", "Errno")


def book_sales(n_readers: int = 300, n_books: int = 600, rows: int = 6000, seed: int = 0) -> bytes:
    """Which reader bought which book (ISBN-like ids), with purchase times."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "reader": [f"r{u:04d}" for u in rng.integers(0, n_readers, rows)],
        "isbn": [f"978-{b:06d}" for b in rng.integers(0, n_books, rows)],
        "timestamp": rng.integers(1_500_000_000, 1_600_000_000, rows),
    }).drop_duplicates(["reader", "isbn"])
    return frame.to_csv(index=False).encode()


def cli(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, TASTEMAKER_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "recsys", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def assert_plain(text: str) -> None:
    for raw in RAW_NAMES:
        assert raw not in text, text


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The CLI's single ``error: ...`` line on stderr (exit 2)."""
    assert result.returncode == 2, (result.returncode, result.stdout[-1000:], result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert_plain(lines[0])
    return lines[0]


@dataclass
class Disk:
    """A small tmpfs mounted for one test."""

    path: Path

    def free(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Write a ballast file until only about ``leave`` bytes are free."""
        ballast = self.path / "ballast"
        with open(ballast, "ab") as fh:
            while self.free() > leave:
                try:
                    fh.write(b"\0" * max(4096, min(1 << 20, self.free() - leave)))
                    fh.flush()
                except OSError:
                    break

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Disk]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root; run this test as root to reproduce disk faults")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield Disk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def trained_store(home: Path) -> tuple[Store, int, int]:
    """A store with one dataset and one finished Popularity run, trained as the worker trains it."""
    from recsys.evaluation import evaluate
    from recsys.models import make_model
    from recsys.split import make_split

    store = Store(home)
    dataset_id = store.add_dataset(book_sales(), source_name="sales.csv")
    run_id = jobs.submit(store, dataset_id, "popularity", protocol="random")
    store.register_worker("test:1", os.getpid(), "test")
    assert jobs.claim_next(store, "test:1") == run_id
    inter, _ = store.load_dataset(dataset_id)
    split = make_split(inter, "random", seed=42)
    model = make_model("popularity").fit(split.fit_train)
    store.save_run_results(run_id, model, evaluate(model, split, k=10))
    store.save_serving_model(run_id, make_model("popularity").fit(inter), inter)
    assert store.finish_run(run_id, "test:1", "done")
    store.retire_worker("test:1")
    return store, dataset_id, run_id


def test_disk_full_fails_the_run_and_the_worker_lives(small_disk):
    home = small_disk.path / "home"
    store = Store(home)
    dataset_id = store.add_dataset(book_sales(), source_name="sales.csv")
    big = jobs.submit(store, dataset_id, "ease", protocol="random")  # ~1.5 MB of item-item weights
    small = jobs.submit(store, dataset_id, "popularity", protocol="temporal")
    small_disk.fill(leave=800_000)  # room for the baseline and the database, not for EASE's weights

    worker = cli(home, "worker", "--once")
    assert worker.returncode == 0, worker.stderr[-3000:]  # the worker lived on and took the next run
    assert "worker finished: 2 run(s) processed" in worker.stderr
    run = store.run(big)
    assert run["status"] == "failed" and run["summary"] == {}
    assert "is full" in run["error"] and "free some space" in run["error"]
    assert_plain(run["error"])
    assert not store.run_dir(big).exists()
    assert not any(p.name.startswith(".staging") for p in (home / "runs").iterdir())  # no staging left
    assert store.run(small)["status"] == "done"  # the queue went on
    assert store.load_run_model(small) is not None

    small_disk.fill(leave=0)
    listing = cli(home, "runs")
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert f"{big}" in listing.stdout and "failed" in listing.stdout
    with pytest.raises(StoreFault, match="is full") as caught:
        store.add_dataset(book_sales(seed=5), source_name="more.csv")
    assert caught.value.kind == "full" and len(store.list_datasets()) == 1
    assert not any(p.name.startswith(".staging") for p in (home / "datasets").iterdir())
    submit = cli(home, "submit", str(ROOT / "assets" / "datasets" / "ml-latest-small" / "ratings.csv"),
                 "--model", "popularity")
    assert "is full" in one_error_line(submit)


def test_read_only_store_lists_and_refuses_writes_in_one_sentence(small_disk, tmp_path, monkeypatch, open_app):
    home = small_disk.path / "home"
    store, dataset_id, run_id = trained_store(home)
    data = tmp_path / "sales.csv"
    data.write_bytes(book_sales(seed=3))
    small_disk.remount("ro")

    listing = cli(home, "runs")
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert "done" in listing.stdout and "popularity" in listing.stdout
    for args in (("submit", str(data), "--model", "popularity"), ("worker", "--once")):
        assert "is read-only" in one_error_line(cli(home, *args))
    report = cli(home, "doctor")
    assert report.returncode == 1 and "is read-only" in report.stdout
    assert_plain(report.stdout + report.stderr)

    opened = Store(home)
    assert opened.read_only and opened.run(run_id)["status"] == "done"
    assert opened.load_run_model(run_id) is not None and len(opened.load_dataset(dataset_id)[0]) > 0
    with pytest.raises(StoreFault, match="is read-only"):
        opened.rename_dataset(dataset_id, "Kept")

    monkeypatch.setenv("TASTEMAKER_HOME", str(home))
    at = open_app()
    assert any("is read-only" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.error, [e.value for e in at.error]
    shown = " ".join(str(getattr(el, "value", "")) for el in at.main)
    assert_plain(shown)


def test_damaged_database_gives_one_sentence_and_doctor_rebuilds_it(tmp_path, monkeypatch, open_app):
    home = tmp_path / "home"
    store, dataset_id, run_id = trained_store(home)
    baseline_ids = [r["id"] for r in store.run_records()]
    for suffix in ("-wal", "-shm"):
        (home / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    (home / DB_NAME).write_bytes(b"these are not the bytes of a database" * 500)

    for args in (("runs",), ("worker", "--once"), ("submit", "x.csv", "--model", "popularity")):
        line = one_error_line(cli(home, *args))
        assert "is damaged" in line and "doctor --repair" in line
    with pytest.raises(StoreFault) as caught:
        Store(home)
    assert caught.value.kind == "damaged"

    monkeypatch.setenv("TASTEMAKER_HOME", str(home))
    at = open_app()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "is damaged" in errors[0] and "doctor --repair" in errors[0]
    assert_plain(errors[0])

    check = cli(home, "doctor")
    assert check.returncode == 1 and "damaged" in check.stdout
    repair = cli(home, "doctor", "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "set the damaged database aside" in repair.stdout
    assert list((home / "quarantine").glob(f"{DB_NAME}.damaged-*"))  # kept for whoever wants to look
    store = Store(home)
    assert store.list_datasets()["id"].tolist() == [dataset_id]
    assert sorted(r["id"] for r in store.run_records()) == sorted(baseline_ids)
    assert store.load_run_model(run_id) is not None


def test_damaged_pages_inside_a_database_are_found_by_the_doctor(tmp_path):
    """The file still opens as a database, but the epochs table's pages are scribbled over: listing says
    so in one sentence, ``PRAGMA integrity_check`` in the doctor finds it, and the repair rebuilds."""
    home = tmp_path / "home"
    store, _, run_id = trained_store(home)
    for i in range(40):  # enough rows for the epochs table to span pages of its own
        store.add_epoch(run_id, {"epoch": 100 + i, "loss": 0.1, "metric": "x" * 500})
    with store.connect() as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='epochs'").fetchone()[0]
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray((home / DB_NAME).read_bytes())
    offset = (root - 1) * page
    data[offset + 8:offset + page] = os.urandom(page - 8)  # keep the page type, scramble the rest
    (home / DB_NAME).write_bytes(bytes(data))

    assert Store(home).schema_version() == SCHEMA_VERSION  # it opens
    assert "is damaged" in one_error_line(cli(home, "runs"))
    report = doctor(home)
    assert not report.ok and "The database is damaged" in report.problems[0], report.to_text()
    assert any("integrity FAILED" in fact for fact in report.facts)
    repair = cli(home, "doctor", "--repair")
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert Store(home).run(run_id)["status"] == "done"


def test_damaged_model_and_result_files_read_as_one_sentence(tmp_path):
    import ui.errors
    from recsys.models import ModelError

    store, _, run_id = trained_store(tmp_path / "home")
    folder = store.run_dir(run_id)
    for part, evaluated in (("model", True), ("serving", False)):  # the evaluated and the serving model
        (folder / part / "arrays.npz").write_bytes(b"PK\x03\x04 broken zip")
        with pytest.raises((StoreError, ModelError), match="damaged") as caught:  # load_model words it, or the store
            store.load_run_model(run_id, evaluated=evaluated)
        assert_plain(str(caught.value)) and ui.errors.is_user_error(caught.value)
    (folder / "per_user.npz").write_bytes(os.urandom(64))
    with pytest.raises(StoreError, match="evaluation of run"):
        store.load_evaluation(run_id)
    (folder / "recommendations.parquet").write_bytes(b"PAR1")
    with pytest.raises(StoreError, match="recommendations of run"):
        store.run_recommendations(run_id)
