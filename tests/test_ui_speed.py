"""Results in seconds: the first visit to the Results page, in a fresh process (as a freshly started
server), with six finished runs on a 100k-row listening log, shows its leaderboard in under 3 s. The
runs are trained by the real worker with default settings; the page only reads what the worker stored."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.listening import listening_log
from recsys import jobs
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
FIRST_VISIT = """
import json, os, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(os.path.join(os.getcwd(), "tests", "app_entry.py"), default_timeout=120)
at.session_state["tm_current_dataset"] = int(os.environ["DATASET"])
at.run()
started = time.perf_counter()
at.switch_page("../pages/results.py").run()
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "errors": [e.value for e in at.exception] + [e.value for e in at.error],
                  "rows": len(at.dataframe[0].value) if at.dataframe else 0}))
"""


@pytest.mark.slow
def test_first_results_visit_with_six_runs_on_100k_rows_takes_under_3_seconds(tmp_path):
    store = Store(tmp_path / "home")
    plays, artists, _ = listening_log(listeners=4100, artists=3000)  # about 100,000 play counts
    out, cat = io.StringIO(), io.StringIO()
    plays.to_csv(out, sep="\t", index=False)
    artists.to_csv(cat, sep="\t", index=False)
    dataset = store.add_dataset(out.getvalue().encode(), items=cat.getvalue().encode(), source_name="plays.dat")
    for model in ("itemknn", "userknn", "ease", "ials", "bpr"):  # and the Popularity yardstick: six runs
        jobs.submit(store, dataset, model, protocol="random", seed=42)
    jobs.run_worker(store, once=True)
    runs = store.list_runs(dataset)
    assert len(runs) == 6 and set(runs["status"]) == {"done"}, runs[["model", "status", "error"]]
    env = dict(os.environ, TASTEMAKER_HOME=str(store.home), DATASET=str(dataset))
    result = subprocess.run([sys.executable, "-c", FIRST_VISIT], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    visit = json.loads(result.stdout.strip().splitlines()[-1])
    assert visit["errors"] == [] and visit["rows"] == 6
    print(f"first Results visit: {visit['seconds']:.2f} s")
    assert visit["seconds"] < 3.0
