"""How long the dashboard takes, measured through the real app (Streamlit's AppTest, in this process) on
a real store: every page's first view on a 100k-row listening log with six finished runs, "more like
this" after its first call, and the CSV export of 10 picks for 10,000 people.

    python -m benchmarks.ui_speed [--home DIR] [--listeners 4100] [--export-listeners 10000]

"First view" is a new session opening the page with every cache of this process empty (the cost a person
pays the first time after the server starts), then a second new session (caches warm). Training the runs
is not timed. The figures go to docs/benchmarks.md ("The dashboard's waits").
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_ENTRY = ROOT / "tests" / "app_entry.py"  # runs app.py from a folder without pages/ (see there)
PAGES = ("pages/data.py", "pages/train.py", "pages/results.py", "pages/explore.py", "pages/recommend.py")
RUNS = (  # six finished runs: Popularity comes with the first, as every split's yardstick
    ("itemknn", {}), ("userknn", {}), ("ease", {}), ("ials", {"epochs": 5}), ("bpr", {"epochs": 5}),
)


def build(home: Path, listeners: int, artists: int, runs=RUNS) -> int:
    """A store at ``home`` with the listening log (and its catalogue) and finished runs; the dataset id."""
    from benchmarks.listening import listening_log
    from recsys import jobs
    from recsys.store import Store

    store = Store(home)
    plays, catalogue, _ = listening_log(listeners, artists, seed=0)
    dataset = store.add_dataset(plays.to_csv(sep="\t", index=False).encode(), source_name="user_artists.dat",
                                name="Listening log", items=catalogue.to_csv(sep="\t", index=False).encode(),
                                items_name="artists.dat")
    for model, params in runs:
        jobs.submit(store, dataset, model, params, protocol="random", seed=42)
    started = time.perf_counter()
    jobs.run_worker(store, once=True)
    done = store.list_runs(dataset)
    print(f"built {len(plays):,} rows, {done['status'].eq('done').sum()} finished runs in "
          f"{time.perf_counter() - started:.0f} s")
    return dataset


def page_times(dataset: int) -> list[tuple[str, float, float]]:
    """(page, first view seconds with cold caches, second view seconds in a new session)."""
    from streamlit.testing.v1 import AppTest

    out = []
    for page in PAGES:
        seconds = []
        for _ in range(2):
            at = AppTest.from_file(str(APP_ENTRY), default_timeout=300)
            at.query_params["dataset"] = str(dataset)
            started = time.perf_counter()
            at.run()  # a new session lands on the Data page
            if page != PAGES[0]:
                started = time.perf_counter()
                at.switch_page(f"../{page}").run()
            seconds.append(time.perf_counter() - started)
            assert not at.exception, [e.value for e in at.exception]
        out.append((page, *seconds))
        print(f"{page}: first view {seconds[0]:.2f} s, again {seconds[1]:.2f} s")
    return out


def more_like_this_times(dataset: int) -> list[tuple[str, float, float]]:
    """(model, first call seconds, the slowest of the next five items) for each finished run."""
    from recsys import explore, leaderboard
    from recsys.store import Store

    store = Store()
    inter, catalog = store.load_dataset(dataset)
    out = []
    for run in leaderboard.finished_runs(store.list_runs(dataset)).to_dict("records"):
        model = store.load_run_model(int(run["id"]))
        if not explore.supports_item_similarity(model):
            continue
        items = explore.popular_items(inter, 6)
        started = time.perf_counter()
        explore.more_like_this(model, int(items[0]), catalog, k=10)
        first = time.perf_counter() - started
        later = []
        for item in items[1:]:
            started = time.perf_counter()
            explore.more_like_this(model, int(item), catalog, k=10)
            later.append(time.perf_counter() - started)
        out.append((run["model"], first, max(later)))
        print(f"more like this, {run['model']}: first {first:.3f} s, then at most {max(later):.3f} s")
    return out


def export_times(home: Path, listeners: int) -> list[tuple[str, int, float]]:
    """(model, people, seconds) of the CSV export of 10 picks per person."""
    from recsys import explore, leaderboard
    from recsys.store import Store

    dataset = build(home, listeners, 3000, runs=(("itemknn", {}), ("ials", {"epochs": 5})))
    store = Store(home)
    inter, catalog = store.load_dataset(dataset)
    out = []
    for run in leaderboard.finished_runs(store.list_runs(dataset)).to_dict("records"):
        model = store.load_run_model(int(run["id"]))
        started = time.perf_counter()
        csv = explore.recommendations_csv(model, catalog, k=10, run_lists=store.run_recommendations(int(run["id"])))
        seconds = time.perf_counter() - started
        rows = csv.count(b"\n") - 1
        out.append((run["model"], inter.n_users, seconds))
        print(f"export, {run['model']}: {inter.n_users:,} people x 10 ({rows:,} rows) in {seconds:.2f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="a data folder to build in (default: a new temporary folder)")
    parser.add_argument("--listeners", type=int, default=4100, help="about 24 rows each: 4,100 give ~100k rows")
    parser.add_argument("--export-listeners", type=int, default=10_000)
    args = parser.parse_args(argv)
    base = Path(args.home or tempfile.mkdtemp(prefix="tastemaker-ui-speed-"))
    os.environ["TASTEMAKER_HOME"] = str(base / "pages")
    os.chdir(ROOT)
    dataset = build(base / "pages", args.listeners, 3000)
    pages = page_times(dataset)
    like = more_like_this_times(dataset)
    exports = export_times(base / "export", args.export_listeners)
    print("\n| page | first view (cold caches) | again, new session |\n|---|---|---|")
    for page, cold, warm in pages:
        print(f"| {Path(page).stem} | {cold:.2f} s | {warm:.2f} s |")
    print("\n| model | more like this: first call | next five items, slowest |\n|---|---|---|")
    for model, first, later in like:
        print(f"| {model} | {first:.3f} s | {later:.3f} s |")
    print("\n| model | people | export of 10 picks each |\n|---|---|---|")
    for model, people, seconds in exports:
        print(f"| {model} | {people:,} | {seconds:.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
