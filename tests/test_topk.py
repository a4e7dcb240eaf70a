"""Top-k of every row (recsys.models.topk) and the scoring product (recsys.models.products): known
answers on random data against a full stable sort and torch's own kernels, ties and -inf included."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.data import Interactions
from recsys.device import cpu_vendor
from recsys.models import make_model, products
from recsys.models.topk import default_chunk, top_k


def sorted_reference(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first k places of each row sorted best first: NaN above everything, then larger scores,
    equal scores by column (a stable sort of the whole row)."""
    values = scores.numpy()
    columns = np.arange(values.shape[1])
    items = []
    for row in values:
        nan = np.isnan(row)
        order = np.lexsort((columns, -np.where(nan, 0.0, row), -nan.astype(int)))  # last key sorts first
        items.append(order[:k])
    items = np.array(items).reshape(len(values), -1)
    return np.take_along_axis(values, items, axis=1), items


def tied_scores(rows: int, n: int, seed: int, nan: bool = False) -> torch.Tensor:
    """Integer-valued scores in a small range (many ties), a fifth of them -inf (seen items), some -0.0."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randint(-4, 5, (rows, n), generator=generator).float()
    scores[torch.rand(rows, n, generator=generator) < 0.2] = -torch.inf
    scores[torch.rand(rows, n, generator=generator) < 0.1] = -0.0
    if nan:
        scores[torch.rand(rows, n, generator=generator) < 0.01] = torch.nan
    return scores


@pytest.mark.parametrize("chunk", [None, 1, 3, 16, 64, 250])
@pytest.mark.parametrize("n", [1, 9, 100, 1000, 1237])
def test_top_k_is_a_stable_full_sort_with_ties_and_minus_inf(chunk, n):
    for seed in range(3):
        scores = tied_scores(6, n, seed)
        for k in (1, 10, n, n + 5):
            values, items = top_k(scores, k, chunk)
            want_values, want_items = sorted_reference(scores, min(k, n))
            np.testing.assert_array_equal(items.numpy(), want_items)
            np.testing.assert_array_equal(values.numpy(), want_values)
            # the scores are exactly torch.topk's (which leaves the order of ties open)
            np.testing.assert_array_equal(values.numpy(), torch.topk(scores, min(k, n), dim=1).values.numpy())


def test_top_k_ranks_nan_first_like_torch_topk():
    scores = tied_scores(5, 700, seed=7, nan=True)
    for chunk in (None, 8, 100):
        values, items = top_k(scores, 12, chunk)
        want_values, want_items = sorted_reference(scores, 12)
        np.testing.assert_array_equal(items.numpy(), want_items)
        np.testing.assert_array_equal(values.numpy(), want_values)  # NaN == NaN here
        assert torch.isnan(values[:, 0]).any()


def test_top_k_on_real_valued_scores_matches_torch_topk():
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(40, 5000, generator=generator)
    values, items = top_k(scores, 10)
    want = torch.topk(scores, 10, dim=1)
    assert torch.equal(values, want.values) and torch.equal(items, want.indices)  # no ties: one answer
    assert default_chunk(50_000, 10) == 64 and default_chunk(100, 10) == 16


def test_top_k_of_nothing_is_empty():
    values, items = top_k(torch.zeros(0, 5), 3)
    assert values.shape == (0, 3) and items.shape == (0, 3)
    values, items = top_k(torch.zeros(4, 5), 0)
    assert values.shape == (4, 0) and items.shape == (4, 0)


def listening_log(seed: int = 0) -> Interactions:
    """Listeners and the artists they played: three taste groups, each playing mostly its own artists."""
    rng = np.random.default_rng(seed)
    rows = []
    for listener in range(120):
        group = listener % 3
        for artist in rng.choice(90, size=12, replace=False):
            if artist % 3 == group or rng.random() < 0.2:
                rows.append((f"listener{listener}", f"artist{artist}", int(rng.integers(1, 40))))
    frame = pd.DataFrame(rows, columns=["listener", "artist", "plays"])
    return Interactions.from_frame(frame, user="listener", item="artist", value="plays")


@pytest.mark.parametrize("name", ["ials", "bpr", "popularity"])
def test_recommend_is_the_stable_sort_of_the_scores_in_any_block_size(name):
    train = listening_log()
    model = make_model(name, **({"epochs": 3, "factors": 8, "device": "cpu"} if name != "popularity" else {}))
    model.fit(train)
    users = np.arange(train.n_users)
    seen = train.to_csr()
    for batch_size in (1, 7, len(users)):
        # the scores as recommend computes them, block by block (a product's last bit may depend on its
        # shape), with the training items left out
        scores = torch.cat([torch.as_tensor(model.score(users[start : start + batch_size]))
                            for start in range(0, len(users), batch_size)])
        for user in users:
            scores[user, seen[user].indices] = -torch.inf
        want_values, want_items = sorted_reference(scores, 10)
        want_items = np.where(np.isneginf(want_values), -1, want_items)
        items, values = model.recommend(users, k=10, batch_size=batch_size)
        np.testing.assert_array_equal(items, want_items)
        np.testing.assert_array_equal(values, want_values)


def test_scores_product_agrees_on_either_kernel(monkeypatch):
    generator = torch.Generator().manual_seed(1)
    left, right = torch.randn(37, 16, generator=generator), torch.randn(301, 16, generator=generator)
    bias = torch.randn(301, generator=generator)
    want = (left.double() @ right.double().T + bias.double()).float()
    for faster_onednn in (True, False):
        monkeypatch.setitem(products._FASTER_ONEDNN, 16, faster_onednn)
        torch.testing.assert_close(products.scores_product(left, right, bias), want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(products.scores_product(left, right), want - bias, rtol=1e-5, atol=1e-5)
    # autograd, other dtypes and a failed oneDNN all take torch's product
    left.requires_grad_(True)
    assert products.scores_product(left, right).requires_grad
    torch.testing.assert_close(products.scores_product(left.detach().double(), right.double()),
                               (want - bias).double(), rtol=1e-5, atol=1e-5)
    monkeypatch.setitem(products._ONEDNN_STATE, "broken", True)
    torch.testing.assert_close(products.scores_product(left.detach(), right), want - bias, rtol=1e-5, atol=1e-5)


def test_scores_product_of_no_rows_is_empty_and_keeps_onednn():
    right = torch.randn(50, 16)
    assert products.scores_product(torch.zeros(0, 16), right).shape == (0, 50)
    assert not products._ONEDNN_STATE["broken"]


def test_the_kernel_is_chosen_by_the_cpu_not_by_a_timing(monkeypatch):
    """The same model must rank near-ties the same way in every process on a machine: oneDNN on AMD CPUs,
    torch's own product elsewhere, never a per-process timing race between the two."""
    monkeypatch.setitem(products._ONEDNN_STATE, "broken", False)  # _calibrate records a failure here
    vendor = cpu_vendor()
    if platform.machine() in ("x86_64", "AMD64") and Path("/proc/cpuinfo").exists():
        assert vendor in ("GenuineIntel", "AuthenticAMD"), vendor
    expected = vendor == "AuthenticAMD" and torch.backends.mkldnn.is_available()
    assert [products._calibrate(factors) for factors in (16, 64, 64, 64, 128)] == [expected] * 5
