"""Top-k of every row of a score matrix, exact, in two stages so that it costs little more than one pass
over the scores.

Definition. ``top_k(scores, k)`` returns, for each row, the ``k`` largest scores and their columns, best
first; equal scores are ordered by column (the lower column first), and NaN counts as larger than any
number (as in ``torch.topk``). That is what a stable descending sort of each row gives in its first ``k``
places.

Method. Each row is cut into chunks of ``chunk`` consecutive columns (the last may be shorter). The top
``k`` of the row lie in the ``k`` chunks with the largest maxima (equal maxima: the lower chunk first):
each of those chunks holds an entry at least as good as anything in an unchosen chunk (larger, or equal
and in a lower column), so ``k`` entries beat every entry outside them. The first stage takes each
chunk's maximum (one pass over the scores, vectorised) and picks the ``k`` best chunks; the second ranks
only their ``k x chunk`` entries. Ties are resolved exactly by ranking 64-bit keys, the score's bits in
an order-preserving integer above the column's complement.

At 200k users x 50k items (k = 10) the selection went from about as long as the score product itself
(``torch.topk`` over full rows) to a small part of it; see docs/benchmarks.md.
"""

from __future__ import annotations

import math

import torch

_LOW_BITS = (1 << 32) - 1


def default_chunk(n: int, k: int) -> int:
    """Chunk width that balances the two stages: the first ranks ``n / chunk`` maxima, the second
    ``k * chunk`` candidates, so about ``sqrt(n / k)``, rounded to a multiple of 16 (a vector's floats)."""
    return max(16, int(round(math.sqrt(n / max(1, k)) / 16)) * 16)


def top_k(scores: torch.Tensor, k: int, chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` best entries of each row of the 2-D float tensor ``scores``: ``(values, columns)``, each
    ``(n_rows, min(k, n))``, best first, ties to the lower column (see the module's definition).
    ``chunk`` sets the first stage's chunk width (default :func:`default_chunk`)."""
    n_rows, n = scores.shape
    k = min(int(k), n)
    if k <= 0 or n_rows == 0:
        empty = torch.empty(n_rows, max(k, 0), dtype=torch.long, device=scores.device)
        return scores.new_empty(n_rows, max(k, 0)), empty
    chunk = max(1, int(chunk or default_chunk(n, k)))
    if k * chunk >= n:  # the chunks would hold (nearly) everything: rank the rows themselves
        return _ranked(scores, k)
    whole = n // chunk
    maxima = scores[:, : whole * chunk].unflatten(1, (whole, chunk)).amax(2)
    if whole * chunk < n:
        maxima = torch.cat([maxima, scores[:, whole * chunk :].amax(1, keepdim=True)], dim=1)
    chosen = _ranked(maxima, k)[1].sort(dim=1).values  # the k best chunks, in column order
    columns = (chosen.unsqueeze(2) * chunk + torch.arange(chunk, device=scores.device)).flatten(1)
    beyond = columns >= n  # the short last chunk's missing columns
    columns.clamp_(max=n - 1)
    values, picked = _ranked(scores.gather(1, columns), k, beyond)
    return values, columns.gather(1, picked)


def _ranked(values: torch.Tensor, k: int, excluded: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top ``k`` of each row of ``values`` by position (ties to the lower position), leaving out
    the positions where ``excluded`` is True: ``(values, positions)``."""
    values = values.float() + 0.0  # -0.0 becomes 0.0: the two are one score
    bits = values.view(torch.int32)
    order = torch.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)  # a larger float, a larger integer
    order = torch.where(torch.isnan(values), torch.iinfo(torch.int32).max, order)
    positions = torch.arange(values.shape[1], device=values.device, dtype=torch.long)
    keys = (order.long() << 32) | (_LOW_BITS - positions)
    if excluded is not None:
        keys.masked_fill_(excluded, torch.iinfo(torch.long).min)
    picked = torch.topk(keys, k, dim=1, sorted=True).indices
    return values.gather(1, picked), picked
