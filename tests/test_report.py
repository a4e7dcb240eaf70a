"""The stakeholder report from the command line, on a music catalogue with artist names made here: runs
trained by the real worker, `python -m recsys report` writing one self-contained file with every section,
exposure by artist, and people under stable pseudonyms. The browser checks are in test_report_browser.py."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.offline
import pytest

from benchmarks.listening import track_files
from recsys import report as rp
from recsys.data import Interactions
from recsys.store import Store

ROOT = Path(__file__).resolve().parents[1]
SECTION_IDS = [sid for sid, _ in rp.SECTIONS]


def in_process(home: Path, monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """``python -m recsys ARGS`` run in this process (no start-up cost): (exit code, stderr)."""
    from recsys.cli import main

    monkeypatch.setenv("TASTEMAKER_HOME", str(home))
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def cli(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, TASTEMAKER_HOME=str(home))
    done = subprocess.run([sys.executable, "-m", "recsys", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> tuple[Path, int, list[int], pd.DataFrame]:
    """A data folder with the music log (artists and labels in its catalogue) and three finished runs
    plus the Popularity baseline, all through the command line and the worker process."""
    tmp = tmp_path_factory.mktemp("music")
    home = tmp / "home"
    log, catalogue = track_files(tmp)
    from recsys.cli import main

    with pytest.MonkeyPatch.context() as patch:  # `python -m recsys submit`, in this process
        patch.setenv("TASTEMAKER_HOME", str(home))
        for model, settings in (("itemknn", []), ("ials", ["--set", "epochs=3", "--set", "factors=16"]),
                                ("ease", [])):
            assert main(["submit", str(log), "--items", str(catalogue), "--model", model, "--split", "random",
                         *settings]) == 0
    cli(home, "worker", "--once")  # the real worker process
    store = Store(home)
    runs = store.list_runs()
    assert set(runs["status"]) == {"done"} and len(runs) == 4, runs[["model", "status", "error"]]
    return home, int(runs["dataset_id"].iloc[0]), sorted(runs["id"].astype(int)), pd.read_csv(log)


def test_cli_writes_one_self_contained_file_with_every_section(music, tmp_path):
    home, dataset, run_ids, log = music
    out = tmp_path / "report.html"
    done = cli(home, "report", "--dataset", str(dataset), "--out", str(out))
    assert f"wrote {out}" in done.stderr and "under pseudonyms" in done.stderr
    page = out.read_text(encoding="utf-8")
    assert out.stat().st_size < 10 * 2**20
    # Plotly's JavaScript once, every chart a div drawn by it, nothing fetched from anywhere
    assert page.count(plotly.offline.get_plotlyjs()[:300]) == 1
    charts = page.count('class="plotly-graph-div"')
    # people, items and play counts (no timestamps: no timeline); the leaderboard; ials's curve (the
    # others learn in one step); exposure by item and by artist
    assert charts == 3 + 1 + 1 + 2 and page.count("Plotly.newPlot(") == charts
    ours = page.replace(plotly.offline.get_plotlyjs(), "")  # Plotly's own links only act on a click
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours)
    assert "@import" not in ours and "@font-face" not in ours and not re.search(r"url\(\s*['\"]?https?:", ours)
    for sid in SECTION_IDS:
        assert f'<section class="report-section" id="{sid}">' in page
    # every finished run is in it, the Popularity reference included
    for run_id in run_ids:
        assert f"run #{run_id}" in page
    # exposure by artist: the catalogue's creator column was found by its name
    assert "Ten biggest artists" in page and "Artists shown" in page
    assert "How much the ten biggest artists get" in page
    # people under pseudonyms: no listener's id anywhere, never a raw row of the file
    listeners = set(log["listener_id"])
    assert not [u for u in listeners if u in page]
    assert len(set(re.findall(r"Person [A-Z2-9]{6}\b", page))) == 3
    assert "listener_id,track_id" not in page


def test_pseudonyms_are_stable_keyed_and_can_be_switched_off(music, tmp_path, monkeypatch, capsys):
    home, dataset, _, log = music
    store = Store(home)
    first = rp.build_report(store, dataset)
    again = rp.build_report(Store(home), dataset)
    assert [p["shown"] for p in first.people] == [p["shown"] for p in again.people]  # stable
    assert [p["kind"] for p in first.people] == ["light", "typical", "heavy"]
    for person in first.people:
        assert person["shown"] == rp.pseudonym(person["user_id"], store.report_key())
        assert person["shown"] != rp.pseudonym(person["user_id"], b"another workspace's key")  # keyed
    key_file = home / "report.key"
    assert len(key_file.read_bytes()) == 32 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    kept = tmp_path / "kept.html"
    assert in_process(home, monkeypatch, capsys, "report", "--dataset", str(dataset), "--keep-ids", "--out",
                      str(kept))[0] == 0
    page = kept.read_text(encoding="utf-8")
    for person in first.people:
        assert f"Person {person['user_id']}" in page and person["shown"] not in page


def test_cli_report_of_chosen_runs_and_its_refusals(music, tmp_path, monkeypatch, capsys):
    home, dataset, run_ids, _ = music
    store = Store(home)
    baseline = int(store.list_runs().query("model == 'popularity'")["id"].iloc[0])
    chosen = [r for r in run_ids if r != baseline][:2]
    out = tmp_path / "two.html"
    code, err = in_process(home, monkeypatch, capsys, "report", "--dataset", str(dataset), "--runs",
                           ",".join(map(str, chosen)), "--out", str(out))
    assert code == 0
    shown = re.search(r"runs ([\d, ]+),", err).group(1)
    assert sorted(int(r) for r in shown.split(", ")) == sorted([*chosen, baseline])  # Popularity joins as reference
    for args, words in ((["--dataset", str(dataset), "--runs", "999"], "Run 999 is not a finished run"),
                        (["--dataset", "77"], "no dataset 77"),
                        (["--dataset", str(dataset), "--runs", "3,x"], "--runs expects run ids")):
        code, err = in_process(home, monkeypatch, capsys, "report", *args, "--out", str(out))
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and words in err, err


def test_example_people_are_light_typical_and_heavy():
    counts = [1, 2, 2, 3, 5, 8, 13, 21, 34, 55]  # person p has counts[p] interactions
    frame = pd.DataFrame([(f"p{p}", f"i{i}") for p, n in enumerate(counts) for i in range(n)], columns=["u", "i"])
    inter = Interactions.from_frame(frame, "u", "i")
    numbers = {kind: inter.user_ids[user] for kind, user in rp.example_people(inter)}
    # 10th, 50th, 90th percentiles of the counts: 1.9, 6.5, 37.1 -> nearest: 2 (p1, lower number), 5 (p4), 34 (p8)
    assert numbers == {"light": "p1", "typical": "p4", "heavy": "p8"}
    same = Interactions.from_frame(pd.DataFrame({"u": ["a", "b"], "i": ["x", "x"]}), "u", "i")
    assert len({user for _, user in rp.example_people(same)}) == 2  # never the same person twice


def test_example_items_are_the_head_and_a_spread_of_the_tail():
    counts = np.array([50, 40, 30, 20, 10, 9, 8, 7, 6, 5, 4, 3, 3, 3, 3, 2, 2, 1, 1, 1])
    frame = pd.DataFrame([(f"u{j}", f"i{i:02d}") for i, n in enumerate(counts) for j in range(n)], columns=["u", "i"])
    inter = Interactions.from_frame(frame, "u", "i")
    popular, tail = rp.example_items(inter, n=3)
    assert inter.item_ids[popular].tolist() == ["i00", "i01", "i02"]
    # head = top 10% of 20 = i00, i01; the tail with at least 3 interactions: i02 ... i14, spread over 3 picks
    assert inter.item_ids[tail].tolist() == ["i02", "i08", "i14"]


def test_pdf_needs_chromium_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(rp, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("PATH", str(tmp_path))
    ok, why = rp.pdf_available()
    assert not ok and "Chromium" in why and "HTML" in why
    with pytest.raises(RuntimeError, match="Chromium"):
        rp.print_pdf("<html></html>")
