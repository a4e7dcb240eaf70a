"""The central data types: ``Interactions`` (who interacted with what) and ``Catalog`` (what the items are).

Loading files into them lives here too (``load_interactions``, ``load_items``), together with the one
error type, ``DataError``, whose message always names the problem, where it is, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp


class DataError(ValueError):
    """A problem with the user's data, worded for the user: what is wrong, where, and what to do."""


@dataclass(frozen=True, eq=False)
class Interactions:
    """Parallel arrays of (user, item[, value][, timestamp]) with the mapping back to the file's own ids.

    ``users[i]`` and ``items[i]`` are dense numbers ``0..n_users-1`` and ``0..n_items-1``;
    ``user_ids[u]`` / ``item_ids[j]`` are the ids as they appear in the user's file (numbering is
    deterministic: ids sorted). ``values`` are ratings (``explicit=True``) or weights such as play
    counts (``explicit=False``); ``None`` means every interaction counts as 1. ``timestamps`` are
    seconds since the epoch (int64) or ``None``. Instances are validated once, when built.
    """

    users: np.ndarray
    items: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    values: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    explicit: bool = False
    report: Any = field(default=None, compare=False, repr=False)  # the DataReport of the load, if any

    def __post_init__(self) -> None:
        n = len(self.users)
        if len(self.items) != n:
            raise ValueError("users and items must have the same length")
        for name in ("values", "timestamps"):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise ValueError(f"{name} must have the same length as users")
        if n:
            if self.users.min() < 0 or self.users.max() >= len(self.user_ids):
                raise ValueError("user numbers out of range of user_ids")
            if self.items.min() < 0 or self.items.max() >= len(self.item_ids):
                raise ValueError("item numbers out of range of item_ids")
        if self.values is not None and not np.all(np.isfinite(self.values)):
            raise ValueError("values must be finite")

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def density(self) -> float:
        return len(self) / max(1, self.n_users * self.n_items)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        user: str = "user",
        item: str = "item",
        value: str | None = None,
        timestamp: str | None = None,
        explicit: bool = False,
    ) -> Interactions:
        """Number users and items (sorted ids) and build the arrays. The frame must already be clean."""
        user_ids, users = np.unique(frame[user].to_numpy(), return_inverse=True)
        item_ids, items = np.unique(frame[item].to_numpy(), return_inverse=True)
        values = None if value is None else frame[value].to_numpy(dtype=np.float32, copy=True)
        stamps = None if timestamp is None else frame[timestamp].to_numpy(dtype=np.int64, copy=True)
        return cls(
            users=users.astype(np.int32), items=items.astype(np.int32), user_ids=user_ids, item_ids=item_ids,
            values=values, timestamps=stamps, explicit=explicit,
        )

    def subset(self, mask_or_index: np.ndarray) -> Interactions:
        """Rows selected by a boolean mask or index array, keeping this numbering."""
        pick = np.asarray(mask_or_index)
        return Interactions(
            users=self.users[pick], items=self.items[pick], user_ids=self.user_ids, item_ids=self.item_ids,
            values=None if self.values is None else self.values[pick],
            timestamps=None if self.timestamps is None else self.timestamps[pick],
            explicit=self.explicit,
        )

    def to_frame(self, original_ids: bool = True) -> pd.DataFrame:
        """A DataFrame with columns user, item[, value][, timestamp]."""
        cols: dict[str, np.ndarray] = {
            "user": self.user_ids[self.users] if original_ids else self.users,
            "item": self.item_ids[self.items] if original_ids else self.items,
        }
        if self.values is not None:
            cols["value"] = self.values
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

    # -- matrices ------------------------------------------------------------------------------
    def to_csr(self, use_values: bool = True) -> sp.csr_matrix:
        """The users x items matrix (float32). Cells are ``values`` (or 1.0); duplicates are summed."""
        data = self.values if (use_values and self.values is not None) else np.ones(len(self), np.float32)
        m = sp.csr_matrix(
            (data.astype(np.float32), (self.users, self.items)), shape=(self.n_users, self.n_items)
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    def item_counts(self) -> np.ndarray:
        """Number of interactions per item (length n_items)."""
        return np.bincount(self.items, minlength=self.n_items)

    def user_counts(self) -> np.ndarray:
        """Number of interactions per user (length n_users)."""
        return np.bincount(self.users, minlength=self.n_users)

    # -- id mapping ----------------------------------------------------------------------------
    def user_index(self, ids) -> np.ndarray:
        """Dense numbers for the given original user ids; -1 where unknown. Ids are matched as text."""
        return lookup_ids(self.user_ids, ids)

    def item_index(self, ids) -> np.ndarray:
        """Dense numbers for the given original item ids; -1 where unknown. Ids are matched as text."""
        return lookup_ids(self.item_ids, ids)


def lookup_ids(known: np.ndarray, ids) -> np.ndarray:
    """Positions of ``ids`` in ``known`` (matched as text); -1 where absent."""
    table = {str(v): i for i, v in enumerate(known)}
    ids = np.atleast_1d(np.asarray(ids, dtype=object))
    return np.array([table.get(str(v), -1) for v in ids], dtype=np.int64)


@dataclass(eq=False)
class Catalog:
    """What the items are: one row per item with ``item_id`` (text), ``title``, ``tags`` (list of text),
    ``description`` and ``image_url`` (either may be empty). Joined to interactions by item id."""

    frame: pd.DataFrame
    report: dict = field(default_factory=dict)

    def align(self, item_ids: np.ndarray) -> pd.DataFrame:
        """Rows in the order of ``item_ids`` (an Interactions' numbering); unknown items get their id as
        title and no tags."""
        keyed = self.frame.set_index("item_id")
        keyed = keyed[~keyed.index.duplicated()]
        out = keyed.reindex([str(i) for i in item_ids])
        out["title"] = out["title"].fillna(pd.Series([str(i) for i in item_ids], index=out.index))
        out["tags"] = [t if isinstance(t, list) else [] for t in out["tags"]]
        for col in ("description", "image_url"):
            if col not in out:
                out[col] = ""
            out[col] = out[col].fillna("")
        return out.reset_index().rename(columns={"index": "item_id"})
