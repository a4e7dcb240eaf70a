"""One definition of popular and long-tail items, shared by the data report, the profile, the
leaderboard's segments and exposure.

Definition: items are ranked by their number of interactions (most first; ties: the lower item number
first); only items with at least one interaction are ranked. **Popular items** (the *head*) are the top
:data:`HEAD_PERCENT` percent of the ranked items, rounded up and at least one. Every other item, including
any item nobody interacted with, is in the **long tail**. The **biggest hits** are the top
:data:`HITS_PERCENT` percent, counted the same way. Which interactions are counted is the caller's choice
(the whole dataset for the report, the profile and exposure; the training part for the segments), and is
said where the figure is shown.

Percentages are whole numbers so that the band sizes are exact integer arithmetic (``0.1 * 30`` is not 3
in floating point).
"""

from __future__ import annotations

import numpy as np

HEAD_PERCENT = 10
HITS_PERCENT = 1


def definition(percent: int = HEAD_PERCENT) -> str:
    """The definition in one plain sentence."""
    return (f"popular items are the top {percent}% of items by number of interactions; "
            f"the other {100 - percent}% are the long tail")


def head_label(percent: int = HEAD_PERCENT) -> str:
    """A short label for the head: ``"popular (top 10% of items)"``."""
    return f"popular (top {percent}% of items)"


def tail_label(percent: int = HEAD_PERCENT) -> str:
    """A short label for the long tail: ``"long tail (other 90%)"``."""
    return f"long tail (other {100 - percent}%)"


def ranked_items(counts: np.ndarray) -> np.ndarray:
    """Item numbers with at least one interaction, most interactions first (ties: lower number first)."""
    counts = np.asarray(counts)
    order = np.lexsort((np.arange(len(counts)), -counts))
    return order[counts[order] > 0]


def band_size(n_ranked: int, percent: int) -> int:
    """How many of ``n_ranked`` ranked items make the top ``percent`` percent: rounded up, at least one
    (none when nothing is ranked)."""
    if n_ranked <= 0:
        return 0
    return max(1, -(-int(n_ranked) * int(percent) // 100))


def top_items(counts: np.ndarray, percent: int = HEAD_PERCENT) -> np.ndarray:
    """The item numbers of the top ``percent`` percent, most popular first."""
    ranked = ranked_items(counts)
    return ranked[: band_size(len(ranked), percent)]


def head_mask(counts: np.ndarray, percent: int = HEAD_PERCENT) -> np.ndarray:
    """A boolean array over all items: True for popular items (the top ``percent`` percent)."""
    mask = np.zeros(len(np.asarray(counts)), dtype=bool)
    mask[top_items(counts, percent)] = True
    return mask


def interaction_share(counts: np.ndarray, percent: int = HEAD_PERCENT) -> float:
    """Share of all interactions that go to the top ``percent`` percent of items (0 without any)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    return float(counts[top_items(counts, percent)].sum() / total)
