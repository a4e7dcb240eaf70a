"""The benchmark scripts run end to end at tiny scale, and the synthetic data have the promised shape.

implicit is optional: the reference side is skipped cleanly where it does not import; our side always runs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import gpu, quality, speed, synthetic
from benchmarks.machine import cpu_caption, markdown_table, parse_size, size_label
from recsys.models import make_model

HAVE_IMPLICIT = quality.implicit_available()


# -- synthetic data ----------------------------------------------------------------------------------


def test_generate_gives_exact_count_of_unique_sorted_pairs():
    users, items = synthetic.generate(3_000, 1_500, 60_000, seed=3)
    assert len(users) == len(items) == 60_000
    assert users.dtype == items.dtype == np.int32
    keys = users.astype(np.int64) * 1_500 + items
    assert np.all(np.diff(keys) > 0)  # sorted by (user, item) and no duplicate pair
    assert users.min() >= 0 and users.max() < 3_000 and items.min() >= 0 and items.max() < 1_500


def test_generate_is_deterministic_for_a_seed():
    a = synthetic.generate(500, 400, 8_000, seed=7)
    b = synthetic.generate(500, 400, 8_000, seed=7)
    c = synthetic.generate(500, 400, 8_000, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_user_activity_is_a_capped_power_law_with_everyone_active():
    n_users, n_items = 4_000, 2_000
    users, items = synthetic.generate(n_users, n_items, 120_000, seed=1, user_alpha=0.8)
    counts = np.bincount(users, minlength=n_users)
    assert counts.min() >= 1
    assert counts.max() <= int(0.2 * n_items)  # the activity cap
    ordered = np.sort(counts)[::-1]
    # a power law: the top 1% of users hold far more than 1% of interactions, and log count falls
    # about linearly with log rank (slope near -user_alpha away from the cap)
    assert ordered[: n_users // 100].sum() / len(users) > 0.05
    slope = synthetic.popularity_slope(ordered, low=0.05, high=0.5)
    assert -1.0 < slope < -0.6


def test_item_popularity_follows_the_requested_exponent():
    steep = synthetic.describe(*synthetic.generate(5_000, 2_000, 100_000, seed=2, item_alpha=1.1), 5_000, 2_000)
    flat = synthetic.describe(*synthetic.generate(5_000, 2_000, 100_000, seed=2, item_alpha=0.5), 5_000, 2_000)
    assert steep["item_rank_slope"] == pytest.approx(-1.1, abs=0.2)
    assert flat["item_rank_slope"] == pytest.approx(-0.5, abs=0.12)
    assert steep["top1pct_item_share"] > 2 * flat["top1pct_item_share"]


def test_heavy_users_draw_popular_items_too():
    # users above n_items / 32 items are drawn by exponential keys: their items must follow popularity
    n_users, n_items = 400, 640
    users, items = synthetic.generate(n_users, n_items, 20_000, seed=4, user_alpha=1.2)
    counts = np.bincount(users, minlength=n_users)
    heavy = np.flatnonzero(counts > n_items // synthetic.HEAVY_USER_DIVISOR)
    assert len(heavy) >= 10
    popularity = np.bincount(items, minlength=n_items)
    in_heavy = np.bincount(items[np.isin(users, heavy)], minlength=n_items)
    assert np.corrcoef(popularity, in_heavy)[0, 1] > 0.8


def test_generate_refuses_impossible_sizes():
    with pytest.raises(ValueError, match="do not fit"):
        synthetic.generate(10, 50, 1_000)


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_save_and_load_round_trip(tmp_path, suffix):
    users, items = synthetic.generate(200, 300, 3_000, seed=5)
    path = synthetic.save(tmp_path / f"data{suffix}", users, items, 200, 300)
    back_users, back_items, n_users, n_items = synthetic.load(path)
    assert np.array_equal(back_users, users) and np.array_equal(back_items, items)
    if suffix == ".npz":
        assert (n_users, n_items) == (200, 300)
    csr = synthetic.to_csr(back_users, back_items, n_users, n_items)
    assert csr.nnz == 3_000 and csr.data.sum() == 3_000


def test_synthetic_command_line_writes_data(tmp_path, capsys):
    out = tmp_path / "d.npz"
    assert synthetic.main(["--interactions", "20000", "--seed", "1", "--out", str(out)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["interactions"] == 20_000 and out.exists()


def test_sizes_parse_and_print():
    assert parse_size("10M") == 10_000_000 and parse_size("500k") == 500_000 and parse_size("1200") == 1200
    assert size_label(10_000_000) == "10M" and size_label(50_000) == "50k"
    assert synthetic.shape_for(10_000_000) == (200_000, 50_000)
    table = markdown_table(["a", "b"], [[1.23456, None]])
    assert "| 1.23 | — |" in table


# -- speed -------------------------------------------------------------------------------------------


def _tiny_speed(tmp_path, *extra: str) -> dict:
    out = tmp_path / "speed.json"
    argv = ["--sizes", "6k", "--models", "ials,bpr", "--epochs", "2", "--warmup", "1",
            "--recommend-repeats", "1", "--ease-items", "200", "--ease-users", "400",
            "--json", str(out), *extra]
    assert speed.main(argv) == 0
    return json.loads(out.read_text())


def test_speed_runs_our_side_end_to_end(tmp_path):
    results = _tiny_speed(tmp_path, "--no-implicit")
    pairs = results["sizes"][0]["pairs"]
    for model in ("ials", "bpr"):
        ours = pairs[model]["ours"]
        assert "error" not in pairs[model], pairs[model].get("error")
        assert len(ours["epochs"]) == 3  # warm-up + measured, one record each
        assert ours["epoch_median"] > 0 and ours["recommend_median"] > 0
        assert ours["peak_rss_mb"] >= ours["import_rss_mb"] > 0
    ease = results["ease"][0]
    assert ease["ours"]["seconds"] > 0 and ease["numpy"]["seconds"] > 0
    text = speed.report_markdown(results)
    assert "Seconds per epoch" in text
    # every table names the CPU and the kernels torch chose on it (the probe ran)
    machine = results["machine"]
    assert machine["torch_kernels"]["scores"] in ("oneDNN", "torch (MKL)")
    caption = cpu_caption(machine)
    assert machine["cpu_identity"]["vendor"] in caption and machine["torch_kernels"]["capability"] in caption
    assert text.count("\n|---") == 4  # tables: epochs, top-10, memory, EASE
    assert text.count(caption) == 4 + 1  # above each table, and in the machine facts


@pytest.mark.skipif(not HAVE_IMPLICIT, reason="implicit is not installed (requirements-bench.txt)")
def test_speed_measures_implicit_alternately(tmp_path):
    results = _tiny_speed(tmp_path)
    for model in ("ials", "bpr"):
        pair = results["sizes"][0]["pairs"][model]
        assert "error" not in pair, pair.get("error")
        assert pair["implicit"]["epoch_median"] > 0 and pair["implicit"]["recommend_median"] > 0
    text = speed.report_markdown(results)
    assert "ours / implicit" in text


def test_implicit_settings_translate_our_confidence():
    ials = make_model("ials", alpha=3.0, regularization=0.5, factors=32, epochs=7)
    params = quality.implicit_params(ials, threads=2)
    assert params["alpha"] == 4.0  # our c = 1 + alpha on binary data; implicit's c = alpha
    assert params["regularization"] == 0.5 and params["factors"] == 32 and params["iterations"] == 7
    ials.binary = False
    assert quality.implicit_params(ials)["alpha"] == 3.0


# -- quality -----------------------------------------------------------------------------------------


def test_quality_runs_on_a_sample_of_the_demo(tmp_path):
    out = tmp_path / "q.json"
    params = json.dumps({"ials": {"epochs": 2}, "bpr-popularity": {"epochs": 2}})
    argv = ["--models", "popularity,random,ials,bpr-popularity", "--sample-users", "80", "--params", params,
            "--no-implicit", "--curves", "--json", str(out)]
    assert quality.main(argv) == 0
    rows = {r["model"]: r for r in json.loads(out.read_text())["models"]}
    for name in ("popularity", "random", "ials", "bpr-popularity"):
        assert "error" not in rows[name], rows[name]
        assert 0.0 <= rows[name]["ndcg@10"] <= 1.0 and 0.0 < rows[name]["coverage"] <= 1.0
        assert rows[name]["top10_all_users_seconds"] > 0
    assert rows["popularity"]["ndcg@10"] > rows["random"]["ndcg@10"]
    # a variant is our model with other settings, its own row and curve
    assert rows["bpr-popularity"]["params"]["negative_sampling"] == "popularity"
    assert len(rows["bpr-popularity"]["curve"]) == 2 and len(rows["ials"]["curve"]) == 2


@pytest.mark.skipif(not HAVE_IMPLICIT, reason="implicit is not installed (requirements-bench.txt)")
def test_quality_scores_implicit_with_our_evaluation(tmp_path):
    out = tmp_path / "q.json"
    params = json.dumps({"ials": {"epochs": 3}, "bpr": {"epochs": 3}})
    argv = ["--models", "random,implicit-als,implicit-bpr", "--sample-users", "150", "--params", params,
            "--curves", "--json", str(out)]
    assert quality.main(argv) == 0
    rows = {r["model"]: r for r in json.loads(out.read_text())["models"]}
    assert "error" not in rows["implicit-als"], rows["implicit-als"]
    assert rows["implicit-als"]["ndcg@10"] > 3 * rows["random"]["ndcg@10"]
    assert len(rows["implicit-als"]["curve"]) == 3


# -- gpu ---------------------------------------------------------------------------------------------


def test_gpu_script_runs_small_on_cpu():
    results = gpu.run("cpu", "small")
    figures = {row["figure"]: row for row in results["rows"]}
    failed = [row for row in results["rows"] if row["note"].startswith("failed")]
    assert failed == []
    for figure in ("ials epoch", "bpr epoch", "top-10 recommend()", "top-10 kernel", "EASE fit"):
        assert figures[figure]["ms"] > 0 and math.isfinite(figures[figure]["ms"])
    assert any(row["figure"].startswith("copy: host memory copy") for row in results["rows"])
    text = gpu.report_markdown(results)
    assert "ials epoch" in text and "GB/s" in text
