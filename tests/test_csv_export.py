"""CSV written by Tastemaker never carries a live spreadsheet formula, and numbers stay numbers."""

from __future__ import annotations

import ast
import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from recsys import explore, leaderboard
from recsys.cli import main
from recsys.csv_export import csv_text, neutralise
from recsys.data import Interactions
from recsys.models import make_model

ROOT = Path(__file__).resolve().parents[1]


def test_known_answer():
    frame = pd.DataFrame({
        "=cmd": ["=HYPERLINK(\"http://x.test\",\"click\")", "+SUM(A1:A9)", "-2+3", "@SUM(A1)", "\tx", "\rx",
                 "-3", "+1.5e3", "plain", "a=b"],
        "score": [-3.5, -1.0, 0.0, 1.0, 2.5, 1e-9, -7.0, 3.0, 4.0, 5.0],
        "rank": np.arange(-5, 5),
    })
    text = csv_text(frame)
    assert text.startswith("'=cmd,score,rank\r\n\"'=HYPERLINK(\"\"http://x.test\"\",\"\"click\"\")\",-3.5,-5\r\n")
    assert "\"'\rx\"" in text  # a carriage return inside a cell is quoted, so it cannot split the row
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["'=cmd", "score", "rank"],
        ["'=HYPERLINK(\"http://x.test\",\"click\")", "-3.5", "-5"],
        ["'+SUM(A1:A9)", "-1.0", "-4"],
        ["'-2+3", "0.0", "-3"],
        ["'@SUM(A1)", "1.0", "-2"],
        ["'\tx", "2.5", "-1"],
        ["'\rx", "1e-09", "0"],
        ["-3", "-7.0", "1"],
        ["+1.5e3", "3.0", "2"],
        ["plain", "4.0", "3"],
        ["a=b", "5.0", "4"],
    ]


def test_neutralise_leaves_non_text_alone():
    assert neutralise(-3) == -3 and neutralise(None) is None and neutralise("") == ""
    assert neutralise("=1") == "'=1" and neutralise("-1") == "-1" and neutralise("-x") == "'-x"


def _hostile_model():
    users = np.array([0, 0, 1, 1, 2, 2], np.int32)
    items = np.array([0, 1, 1, 2, 0, 2], np.int32)
    inter = Interactions(users=users, items=items,
                         user_ids=np.array(["=2+5", "@evil", "-cmd|' /C calc'!A0"], dtype=object),
                         item_ids=np.array(["+track", "=HYPERLINK(1)", "ok"], dtype=object))
    return make_model("popularity").fit(inter)


def _no_formula_cells(text: str) -> None:
    for line in text.splitlines():
        for cell in line.split(","):
            cell = cell.strip('"')
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), line
            assert not cell.startswith("-") or re.fullmatch(r"-[\d.eE+-]+", cell), line


def test_cli_recommend_writes_safe_csv(tmp_path):
    model_dir = _hostile_model().save(tmp_path / "model")
    out = tmp_path / "recs.csv"
    assert main(["recommend", str(model_dir), "--k", "2", "--out", str(out)]) == 0
    text = out.read_text()
    assert "'=2+5" in text and "'@evil" in text and "'=HYPERLINK(1)" in text
    _no_formula_cells(text)
    frame = pd.read_csv(out)
    assert pd.api.types.is_float_dtype(frame["score"]) and pd.api.types.is_integer_dtype(frame["rank"])


def test_dashboard_downloads_are_safe():
    model = _hostile_model()
    text = explore.recommendations_csv(model, None, k=2).decode()
    assert "'-cmd|' /C calc'!A0" in text
    _no_formula_cells(text)
    board = pd.DataFrame({
        "run_id": [1, 1], "model": ["=bad()", "=bad()"], "label": ["@label", "@label"], "metric": ["ndcg", "recall"],
        "value": [-0.5, 0.25], "ci_low": [0.1, 0.2], "ci_high": [0.3, 0.4], "vs_baseline": [-0.01, 0.02],
        "vs_baseline_p": [0.5, 0.01], "vs_baseline_badge": ["-", "+better"], "seconds": [1.0, 1.0],
        "device": ["cpu", "cpu"],
    })
    text = leaderboard.leaderboard_csv(board).decode()
    assert "'=bad()" in text and "'@label" in text and ",-0.5," in text
    _no_formula_cells(text)


def test_every_csv_writer_goes_through_csv_export():
    """The one place that calls DataFrame.to_csv (or the csv module's writers) is recsys/csv_export.py."""
    offenders = []
    for path in [*ROOT.glob("recsys/**/*.py"), *ROOT.glob("pages/*.py"), *ROOT.glob("ui/*.py"), ROOT / "app.py"]:
        if path.name == "csv_export.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("to_csv", "writer", "DictWriter")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
