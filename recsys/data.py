"""The central data types: ``Interactions`` (who interacted with what) and ``Catalog`` (what the items are).

Turning table files into them lives here too (``load_interactions``, ``load_items``); opening and reading
the files themselves, within limits, is ``recsys.reading``. ``DataError`` (defined there) is the one
error type, whose message always names the problem, where it is, and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import popularity_bands
from recsys.popularity_bands import HEAD_PERCENT, HITS_PERCENT
from recsys.reading import Chunk, DataError, no_rows, open_table, read_table

__all__ = [
    "Catalog", "DataError", "DataReport", "Interactions", "catalog_coverage", "detect_columns",
    "interactions_from_frame", "load_demo", "load_interactions", "load_items", "lookup_ids", "normalise_ids",
    "read_table",
]


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

    @classmethod
    def from_parquet(cls, path: str | Path, explicit: bool = False) -> Interactions:
        """Interactions written by :meth:`to_parquet` (columns ``user``, ``item``, optional ``value`` and
        ``timestamp``), numbered as :meth:`from_frame` does (ids sorted), read one column at a time so
        that memory holds little more than the result."""
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(str(path))
        names = set(parquet.schema_arrow.names)

        def read(name: str) -> pd.Series:
            return parquet.read(columns=[name]).column(0).to_pandas()

        def numbered(name: str) -> tuple[np.ndarray, np.ndarray]:
            codes, uniques = pd.factorize(read(name), sort=True)
            return codes.astype(np.int32), _id_array(uniques)

        users, user_ids = numbered("user")
        items, item_ids = numbered("item")
        values = read("value").to_numpy(np.float32, copy=True) if "value" in names else None
        stamps = read("timestamp").to_numpy(np.int64, copy=True) if "timestamp" in names else None
        return cls(users=users, items=items, user_ids=user_ids, item_ids=item_ids, values=values,
                   timestamps=stamps, explicit=explicit)

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

    def to_parquet(self, path: str | Path, rows_per_group: int = 1 << 21) -> None:
        """Write :meth:`to_frame` (original ids) to a Parquet file, one row group at a time, so that
        memory never holds the whole table of ids twice."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        def column(values: np.ndarray) -> pa.Array:
            return pa.array(values.tolist() if values.dtype == object else values)

        names = ["user", "item"] + ["value"] * (self.values is not None) + ["timestamp"] * (self.timestamps is not None)
        writer = None
        try:
            for start in range(0, max(1, len(self)), rows_per_group):
                rows = slice(start, start + rows_per_group)
                arrays = [column(self.user_ids[self.users[rows]]), column(self.item_ids[self.items[rows]])]
                if self.values is not None:
                    arrays.append(pa.array(self.values[rows]))
                if self.timestamps is not None:
                    arrays.append(pa.array(self.timestamps[rows]))
                table = pa.Table.from_arrays(arrays, names=names)
                if writer is None:
                    writer = pq.ParquetWriter(str(path), table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()

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


def _id_array(uniques: Any) -> np.ndarray:
    """Distinct ids as Interactions holds them: int64, or an object array of ``str``."""
    arr = np.asarray(uniques)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return np.asarray([str(v) for v in arr], dtype=object)


def lookup_ids(known: np.ndarray, ids) -> np.ndarray:
    """Positions of ``ids`` in ``known`` (ids of an :class:`Interactions`); -1 where absent. The ids asked
    for are normalised as the file's were (:func:`normalise_ids`: "3.0" finds 3, " é" finds "é")."""
    table = {str(v): i for i, v in enumerate(known)}
    asked = pd.Series([str(v) for v in np.atleast_1d(np.asarray(ids, dtype=object))], dtype=object)
    return np.array([-1 if pd.isna(v) else table.get(v, -1) for v in normalise_ids(asked).tolist()],
                    dtype=np.int64)


@dataclass(eq=False)
class Catalog:
    """What the items are: one row per item with ``item_id`` (text), ``title``, ``tags`` (list of text),
    ``description``, ``image_url`` and ``creator`` (who made it: artist, author, studio...; any may be
    empty, and catalogues stored before creators were read have no ``creator`` column). Joined to
    interactions by item id."""

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
        for col in ("description", "image_url", "creator"):
            if col not in out:
                out[col] = ""
            out[col] = out[col].fillna("")
        return out.reset_index().rename(columns={"index": "item_id"})


# =============================================================================================
# Reading files
# =============================================================================================

ROLES = ("user", "item", "rating", "time")
ROLE_WORDS = {"user": "user id", "item": "item id", "rating": "rating or weight", "time": "timestamp"}
_ARTICLE = {"user": "a", "item": "an", "rating": "a", "time": "a"}
_ROLE_ALIASES = {"value": "rating", "weight": "rating", "timestamp": "time", "users": "user", "items": "item"}

# Column names (lower case, letters and digits only) that identify each role, best first.
USER_NAMES = (
    "user", "userid", "users", "uid", "customer", "customerid", "client", "clientid", "listener",
    "listenerid", "member", "memberid", "account", "accountid", "visitor", "visitorid", "viewer",
    "viewerid", "reader", "readerid", "reviewer", "reviewerid", "person", "personid", "profile",
    "profileid", "player", "playerid", "buyer", "buyerid", "subscriber", "subscriberid", "username",
    "sessionid", "session",
)
ITEM_NAMES = (
    "item", "itemid", "items", "iid", "movie", "movieid", "product", "productid", "track", "trackid",
    "song", "songid", "artist", "artistid", "book", "bookid", "isbn", "asin", "sku", "content",
    "contentid", "article", "articleid", "video", "videoid", "film", "filmid", "game", "gameid",
    "recipe", "recipeid", "post", "postid", "show", "showid", "episode", "episodeid", "podcast",
    "course", "courseid", "business", "businessid", "restaurant", "hotel", "anime", "animeid",
    "mediaid", "assetid", "objectid", "title", "name",
)
RATING_NAMES = (
    "rating", "ratings", "score", "stars", "star", "grade", "vote", "preference", "userrating",
    "reviewscore", "value",
)
COUNT_NAMES = (
    "plays", "playcount", "play", "count", "counts", "clicks", "click", "views", "view", "weight",
    "quantity", "qty", "listens", "listencount", "purchases", "frequency", "freq", "visits",
    "interactions", "times", "nplays", "numplays", "minutes", "seconds", "duration", "amount",
)
TIME_NAMES = (
    "timestamp", "time", "date", "datetime", "ts", "created", "createdat", "eventtime", "ratedat",
    "unixtime", "epoch", "when", "day", "timestampms", "eventdate", "updatedat",
)
_USER_PARTS = ("user", "customer", "member", "visitor", "listener", "account", "client", "reader")
_ITEM_PARTS = ("item", "movie", "product", "track", "song", "book", "sku", "article", "video", "film")
_RATING_PARTS = ("rating", "score", "stars", "plays", "count", "click", "weight")
_TIME_PARTS = ("time", "date")
_NONE_WORDS = ("", "none", "(none)", "-", "no", "null")
_GENERIC_NAME = re.compile(r"^column\d+$")

def _norm(name: object) -> str:
    """A column name reduced to lower-case letters and digits: "User ID" -> "userid"."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# =============================================================================================
# Column detection
# =============================================================================================


def _match_role(names: list[str], exact: tuple[str, ...], parts: tuple[str, ...], taken: set[str]) -> str | None:
    normalized = {c: _norm(c) for c in names if c not in taken}
    for wanted in exact:
        for col, norm in normalized.items():
            if norm == wanted:
                return col
    for col, norm in normalized.items():
        if any(p in norm for p in parts):
            return col
    return None


def _detect(frame: pd.DataFrame) -> tuple[dict[str, str | None], list[str]]:
    """Columns for each role, and notes on any guess made."""
    cols = [str(c) for c in frame.columns]
    notes: list[str] = []
    taken: set[str] = set()
    found: dict[str, str | None] = dict.fromkeys(ROLES)
    specs = {
        "user": (USER_NAMES, _USER_PARTS),
        "item": (ITEM_NAMES, _ITEM_PARTS),
        "time": (TIME_NAMES, _TIME_PARTS),
        "rating": (RATING_NAMES + COUNT_NAMES, _RATING_PARTS),
    }
    # exact names for every role first, so that e.g. "title" cannot take the place of a later "movieId"
    for role, (exact, _) in specs.items():
        col = _match_role(cols, exact, (), taken)
        if col is not None:
            found[role] = col
            taken.add(col)
    for role, (_, parts) in specs.items():
        if found[role] is None:
            col = _match_role(cols, (), parts, taken)
            if col is not None:
                found[role] = col
                taken.add(col)
    for role in ("user", "item"):
        if found[role] is None:
            free = [c for c in cols if c not in taken]
            if not free:  # give up the least important role rather than have no user or item
                for optional in ("time", "rating"):
                    if found[optional] is not None:
                        free = [found[optional]]
                        notes.append(f"{free[0]!r} is needed as the {ROLE_WORDS[role]} column, so there is no "
                                     f"{ROLE_WORDS[optional]} column")
                        found[optional] = None
                        break
            if free:
                found[role] = free[0]
                taken.add(free[0])
                notes.append(
                    f"no column looked like {_ARTICLE[role]} {ROLE_WORDS[role]}, so the "
                    f"{'first' if cols.index(free[0]) == 0 else 'next'} column, {free[0]!r}, is used"
                )
    generic = [c for c in cols if c not in taken and _GENERIC_NAME.match(c)]
    if generic and found["time"] is None:
        for col in generic:
            if _looks_like_time(frame[col]):
                found["time"] = col
                taken.add(col)
                notes.append(f"column {col!r} holds timestamps (judged from its values)")
                break
    if generic and found["rating"] is None:
        for col in generic:
            if col not in taken and _sample_numbers(frame[col]) is not None:
                found["rating"] = col
                taken.add(col)
                notes.append(f"column {col!r} holds numbers, used as ratings or weights")
                break
    return found, notes


def detect_columns(frame: pd.DataFrame) -> dict[str, str | None]:
    """The column for each role ``user``, ``item``, ``rating``, ``time`` (None when absent), judged from the
    column names (case-insensitive; see ``USER_NAMES`` etc.). User and item fall back to the first free
    columns; files without a header also have rating and time guessed from their values."""
    return _detect(frame)[0]


def _sample_numbers(col: pd.Series) -> np.ndarray | None:
    """The first filled values as floats when every one of them is a number (typed, or text), else None."""
    sample = col.dropna().head(50)
    if sample.empty or pd.api.types.is_bool_dtype(sample):
        return None
    values, missing, text = _parse_numbers(sample)
    present = ~missing
    if not present.any() or text.any():
        return None
    return values[present]


def _looks_like_time(col: pd.Series) -> bool:
    sample = col.dropna().head(50)
    if sample.empty:
        return False
    if pd.api.types.is_datetime64_any_dtype(sample):
        return True
    values = _sample_numbers(sample)
    if values is not None:
        return bool(np.all(values == np.round(values)) and np.all((values > 1e8) & (values < 1e19)))
    parsed = pd.to_datetime(sample.astype(str), errors="coerce", format="ISO8601", utc=True)
    return bool(parsed.notna().mean() > 0.9)


def _resolve_columns(
    frame: pd.DataFrame, columns: Mapping[str, str | None] | None, name: str
) -> tuple[dict[str, str | None], list[str]]:
    """Detected columns, with the caller's choices (matched case-insensitively) taking precedence."""
    found, notes = _detect(frame)
    if not columns:
        return found, notes
    existing = [str(c) for c in frame.columns]
    by_lower = {c.lower(): c for c in existing}
    chosen: dict[str, str | None] = {}
    for key, wanted in columns.items():
        role = _ROLE_ALIASES.get(str(key).lower(), str(key).lower())
        if role not in ROLES:
            raise DataError(f"Unknown column role {key!r}; use user, item, rating or time.")
        if wanted is None or (str(wanted).strip().lower() in _NONE_WORDS and str(wanted).strip().lower() not in by_lower):
            if role in ("user", "item"):
                raise DataError(f"The {ROLE_WORDS[role]} column cannot be 'none': every interaction needs one.")
            chosen[role] = None
            continue
        col = by_lower.get(str(wanted).strip().lower())
        if col is None:
            raise DataError(
                f"Column {wanted!r} (chosen as the {ROLE_WORDS[role]}) is not in {name}; its columns are: "
                f"{', '.join(existing)}."
            )
        chosen[role] = col
    notes = [n for n in notes if not any(f"like {_ARTICLE[r]} {ROLE_WORDS[r]}" in n or f"{ROLE_WORDS[r]}s (judged" in n
                                         for r in chosen)]
    result = dict(found)
    for role, col in chosen.items():
        # a column the user picked is no longer available to an auto-detected role
        for other, current in result.items():
            if other not in chosen and current is not None and current == col:
                result[other] = None
        result[role] = col
    used = [c for c in result.values() if c is not None]
    dupes = {c for c in used if used.count(c) > 1}
    if dupes:
        roles = [r for r, c in result.items() if c in dupes]
        raise DataError(f"Column {sorted(dupes)[0]!r} was chosen for more than one role ({', '.join(roles)}); "
                        "pick a different column for each.")
    return result, notes


# =============================================================================================
# Cleaning, and the report of a load
# =============================================================================================

COLD_USER_INTERACTIONS = 5  # users with fewer interactions than this are "cold"
_EXAMPLES = 5  # example line numbers kept per reason
_MOSTLY_BAD = 0.5  # a rating/time column with more unreadable values than this share is rejected


@dataclass(eq=False)
class DataReport:
    """What a load found, as numbers (``to_dict``, saved with a dataset) and in plain language (``to_text``).

    ``dropped`` maps a reason ("missing user id", ...) to the number of rows left out for it (each row is
    counted once, under its first reason) and ``dropped_examples`` to a few of their 1-based line numbers in
    the file (the header is line 1; ``line_word`` is "row" for Parquet). ``duplicate_rows`` rows repeated an
    earlier (user, item) pair and were merged as ``duplicates_combined`` says. ``top_items_share`` is the
    share of interactions on the popular items, the top ``top_percent``% of items (``top_items`` of them; see
    :mod:`recsys.popularity_bands`), ``hits_share`` the same for the top 1% (``hits_items``; None in reports
    saved before it was kept); ``cold_users`` have fewer
    than 5 interactions. ``columns`` maps each role (user, item, rating, time) to the column used (None when
    absent); ``detected`` says how the file was read and what was guessed.
    """

    source: str = ""
    rows_read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    dropped_examples: dict[str, list[int]] = field(default_factory=dict)
    line_word: str = "line"
    duplicate_rows: int = 0
    duplicate_pairs: int = 0
    duplicates_combined: str = ""
    n_interactions: int = 0
    n_users: int = 0
    n_items: int = 0
    density: float = 0.0
    top_items: int = 0
    top_items_share: float = 0.0
    top_percent: int = 1  # reports saved before the shared definition counted the top 1%
    hits_items: int | None = None
    hits_share: float | None = None
    cold_users: int = 0
    explicit: bool = False
    rating_scale: dict[str, Any] | None = None  # explicit: min, max, distinct (count), values (when few)
    value_range: dict[str, float] | None = None  # implicit weights: min, median, max
    time_range: dict[str, Any] | None = None  # start, end (ISO dates, UTC), days
    columns: dict[str, str | None] = field(default_factory=dict)
    detected: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    suggested_split: str = "random"
    split_reason: str = ""
    suggested_models: list[dict[str, str]] = field(default_factory=list)  # {"model", "reason"}, best first
    catalog: dict[str, Any] | None = None  # catalogue coverage, once one is attached (see add_catalog)

    @property
    def rows_dropped(self) -> int:
        return int(sum(self.dropped.values()))

    @property
    def cold_user_share(self) -> float:
        return self.cold_users / max(1, self.n_users)

    @property
    def suggested_model_names(self) -> list[str]:
        return [m["model"] for m in self.suggested_models]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (no numpy types)."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataReport:
        """The report back from :meth:`to_dict` (unknown keys are ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def add_catalog(self, coverage: Mapping[str, Any]) -> None:
        """Record how a catalogue matches these items (from :func:`catalog_coverage`) and, when most items
        are described, add the content-based model to the shortlist."""
        self.catalog = _plain(dict(coverage))
        if describes_items(coverage) and "content" not in self.suggested_model_names:
            self.suggested_models.append({
                "model": "content",
                "reason": "the catalogue describes most items, so it can recommend by similarity of genres "
                          "and tags, including items nobody has interacted with yet",
            })
        missing = int(coverage.get("items_without_catalog_entry", 0))
        if missing:
            self.warnings.append(
                f"{missing:,} of {self.n_items:,} items have no catalogue entry; they are shown by id only."
            )

    def to_text(self) -> str:
        """The report in plain language, one fact per line (for the CLI and the dashboard)."""
        out: list[str] = []
        feedback = "ratings" if self.explicit else "interactions"
        out.append(f"{self.source or 'Data'}: {self.n_interactions:,} {feedback} from {self.n_users:,} users "
                   f"on {self.n_items:,} items.")
        cols = ", ".join(f"{role} = {col!r}" for role, col in self.columns.items() if col)
        out.append(f"Columns used: {cols}." + ("" if self.columns.get("rating") else " No rating column."))
        if self.explicit and self.rating_scale:
            scale = self.rating_scale
            out.append(f"Feedback: explicit ratings from {_num(scale['min'])} to {_num(scale['max'])} "
                       f"({scale['distinct']} distinct values).")
        elif self.value_range:
            v = self.value_range
            weight = repr(self.columns["rating"]) if self.columns.get("rating") else "the number of repeats"
            out.append(f"Feedback: implicit, weighted by {weight} "
                       f"(from {_num(v['min'])} to {_num(v['max'])}, median {_num(v['median'])}).")
        else:
            out.append("Feedback: implicit; every interaction counts the same.")
        line = f"Rows: {self.rows_read:,} read, {self.rows_dropped:,} dropped"
        if self.dropped:
            parts = []
            for reason, count in self.dropped.items():
                examples = ", ".join(map(str, self.dropped_examples.get(reason, [])))
                parts.append(f"{count:,} {reason} (e.g. {self.line_word} {examples})" if examples
                             else f"{count:,} {reason}")
            line += " (" + "; ".join(parts) + ")"
        out.append(line + ".")
        if self.duplicate_rows:
            out.append(f"Duplicates: {self.duplicate_rows:,} repeated row{'s' * (self.duplicate_rows != 1)} for "
                       f"{self.duplicate_pairs:,} user-item pair{'s' * (self.duplicate_pairs != 1)}; "
                       f"{self.duplicates_combined}.")
        else:
            out.append("Duplicates: none; every user-item pair appears once.")
        out.append(f"Density: {self.density:.2%} of all user-item pairs are filled.")
        hits = (f"; the biggest hits, the top {HITS_PERCENT}% ({self.hits_items:,}), receive {self.hits_share:.1%}"
                if self.hits_share is not None and self.top_percent != HITS_PERCENT else "")
        out.append(f"Popular items: the top {self.top_percent}% of items ({self.top_items:,}) receive "
                   f"{self.top_items_share:.1%} of all interactions{hits}; the other {100 - self.top_percent}% are "
                   "the long tail.")
        out.append(f"Cold users: {self.cold_users:,} ({self.cold_user_share:.0%}) have fewer than "
                   f"{COLD_USER_INTERACTIONS} interactions.")
        if self.time_range:
            t = self.time_range
            out.append(f"Time: {t['start']} to {t['end']} ({_span(t['days'])}).")
        else:
            out.append("Time: no timestamps.")
        if self.catalog:
            c = self.catalog
            out.append(f"Catalogue: {c.get('items_in_both', 0):,} of {self.n_items:,} items described; "
                       f"{c.get('catalog_items_without_interactions', 0):,} catalogue items have no interactions.")
        out.append(f"Suggested split: {self.suggested_split}. {self.split_reason}")
        if self.suggested_models:
            out.append("Suggested models:")
            out.extend(f"  - {m['model']}: {m['reason']}" for m in self.suggested_models)
        if self.detected:
            out.append("How the file was read:")
            out.extend(f"  - {note}" for note in self.detected)
        if self.warnings:
            out.append("Warnings:")
            out.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(out)


def _plain(value: Any) -> Any:
    """numpy scalars/arrays and tuples turned into JSON types, recursively."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _num(x: float) -> str:
    """A value as people write it: thousands separators, never scientific notation (352,698; 0.5)."""
    if isinstance(x, (int, np.integer)) or (isinstance(x, float) and x.is_integer()) or abs(float(x)) >= 1000:
        return f"{float(x):,.0f}"
    return f"{float(x):g}"


def _span(days: float) -> str:
    if days >= 730:
        return f"{days / 365.25:.1f} years"
    if days >= 60:
        return f"{days / 30.44:.0f} months"
    if days >= 2:
        return f"{days:.0f} days"
    if days >= 2 / 24:
        return f"{days * 24:.0f} hours"
    if days >= 2 / 1440:
        return f"{days * 1440:.0f} minutes"
    return f"{days * 86400:.0f} seconds"


def _examples(lines: np.ndarray, mask: np.ndarray) -> list[int]:
    return [int(x) for x in lines[np.flatnonzero(mask)[:_EXAMPLES]]]


# -- ids -----------------------------------------------------------------------------------------

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_PLAIN_WHOLE = r"(?:0|-?[1-9]\d{0,17})"  # whole numbers held as int64: the same ids, numbered by value


def normalise_ids(values: pd.Series) -> pd.Series:
    """Ids as they are compared everywhere (text; missing where blank). Ids are the file's text, with
    three normalisations so that one id never becomes two: Unicode NFC (an "é" typed as one character or
    as "e" plus an accent is one id), surrounding whitespace and zero-width characters removed, and a
    whole number written with a decimal point and only zeros after it ("3.0", "3.00") read as that whole
    number ("3"), since spreadsheets and pandas write integer ids that way once a cell is blank. Nothing
    else changes: "03", "3.5", "3.50", "1e3", "abc" and "ABC" are all different ids."""
    text = values if isinstance(values.dtype, pd.StringDtype) else values.astype("str").where(values.notna())
    text = text.str.strip()
    wide = text.str.contains(r"[^\x00-\x7f]", regex=True).fillna(False).to_numpy(dtype=bool)
    if wide.any():  # NFC and zero-width characters only concern text beyond ASCII
        text = text.copy()
        text[wide] = text[wide].str.normalize("NFC").str.strip(_ZERO_WIDTH).str.strip()
    text = text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    return text.where(text != "")


def _chunk_ids(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32, -1 where missing) into this column's distinct ids, and those ids: int64 when every
    one is a plain whole number (no sign but "-", no leading zeros, at most 18 digits: a one-to-one match
    with its text), else text (an object array of str). Text and Parquet columns follow one rule: integer
    columns are their numbers; float columns are whole numbers where whole ("3.0" -> 3), else the
    shortest text of the float ("1.5"); every other column goes through :func:`normalise_ids`."""
    dtype = col.dtype
    if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        codes, uniques = pd.factorize(col)
        values = pd.Series(uniques).to_numpy()
        if not len(values) or (values.max() < 10**18 and values.min() > -(10**18)):
            return codes.astype(np.int32), values.astype(np.int64)
        return _refactorize(codes, pd.Series([str(int(v)) for v in values], dtype=object))
    if pd.api.types.is_float_dtype(dtype):
        codes, uniques = pd.factorize(col)
        values = pd.Series(uniques).to_numpy(np.float64)
        finite = np.isfinite(values)
        whole = finite & (values == np.floor(np.where(finite, values, 0.0)))
        if whole.all() and (not len(values) or np.abs(values).max() < 1e18):
            return codes.astype(np.int32), values.astype(np.int64)
        text = [str(int(v)) if w else repr(float(v)) if f else None
                for v, w, f in zip(values.tolist(), whole, finite, strict=True)]
        return _refactorize(codes, pd.Series(text, dtype=object))
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return _arrow_ids(col)
    if not (pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)):
        col = col.astype("str").where(col.notna())  # booleans, dates, categories: their text
    codes, uniques = pd.factorize(col)
    return _refactorize(codes, normalise_ids(pd.Series(uniques)))


def _arrow_ids(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_chunk_ids` for Arrow text (what the reader gives), in Arrow's own routines: a column of
    plain whole numbers is cast to int64 (exact: the pattern admits only text that int64 writes back the
    same); any other column is dictionary-encoded and only its distinct values are normalised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(col)
    null = np.array(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pc.all(pc.match_substring_regex(array, f"^{_PLAIN_WHOLE}$")).as_py() is not False and not null.all():
        numbers = pc.fill_null(pc.cast(array, pa.int64()), 0).to_numpy(zero_copy_only=False)
        codes = np.full(len(array), -1, np.int32)
        found, uniques = pd.factorize(numbers[~null])
        codes[~null] = found
        return codes, np.asarray(uniques, dtype=np.int64)
    encoded = pc.dictionary_encode(array)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = np.array(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int32)
    return _refactorize(codes, normalise_ids(pd.Series(encoded.dictionary.to_pandas())))


def _refactorize(codes: np.ndarray, text: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes into ``text`` merged where two texts became the same id (or missing), and the distinct ids."""
    again, uniques = pd.factorize(text)
    again = np.append(again, -1)  # code -1 (missing) maps to the appended -1
    codes = again[codes].astype(np.int32)
    values = pd.Series(uniques, dtype="str")
    if len(values) and values.str.fullmatch(_PLAIN_WHOLE).all():
        return codes, values.astype(np.int64).to_numpy()
    return codes, values.to_numpy(dtype=object)


class _Growing:
    """A 1-D array appended to chunk by chunk in one preallocated buffer (grown by doubling when a row
    estimate falls short): one large allocation instead of many chunk-sized ones, which the C heap would
    keep long after they are freed."""

    def __init__(self, dtype: Any, capacity: int) -> None:
        self.data = np.empty(max(1024, int(capacity)), dtype)
        self.n = 0

    def append(self, part: np.ndarray) -> slice:
        """Add ``part`` at the end; return where it went."""
        end = self.n + len(part)
        if end > len(self.data):
            grown = np.empty(max(end, 2 * len(self.data)), self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n: end] = part
        where = slice(self.n, end)
        self.n = end
        return where

    def view(self) -> np.ndarray:
        return self.data[: self.n]


def _compact(values: np.ndarray, keep: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """``values[keep]`` written over the start of ``values`` itself (a view of it is returned), block by
    block, so that no second full-size array is ever made."""
    write = 0
    for start in range(0, len(values), block):
        picked = values[start: start + block][keep[start: start + block]]
        values[write: write + len(picked)] = picked
        write += len(picked)
    return values[:write]


class _IdColumn:
    """The ids of one role, added chunk by chunk: each row gets the code of its id in one running index
    (in order of first appearance); :meth:`finish` renumbers them in sorted order."""

    def __init__(self, capacity: int) -> None:
        self.codes = _Growing(np.int32, capacity)
        self.known = pd.Index(np.zeros(0, np.int64))
        self.missing = 0

    def add(self, col: pd.Series) -> np.ndarray:
        """Take a chunk's column; return the mask of its missing ids."""
        codes, uniques = _chunk_ids(col)
        if len(uniques) and (self.known.dtype.kind == "i") != (uniques.dtype.kind == "i"):
            if self.known.dtype.kind == "i":  # text arrives: the whole numbers seen so far become text
                self.known = pd.Index(self.known.astype(str).to_numpy(dtype=object), dtype=object)
            else:
                uniques = uniques.astype(str).astype(object)
        position = self.known.get_indexer(uniques) if len(self.known) else np.full(len(uniques), -1)
        new = position < 0
        if new.any():
            position[new] = len(self.known) + np.arange(int(new.sum()))
            self.known = self.known.append(pd.Index(uniques[new], dtype=self.known.dtype))
        mapping = np.append(position, -1).astype(np.int32)  # local code -1 (missing) stays -1
        self.codes.append(mapping[codes])
        missing = codes < 0
        self.missing += int(missing.sum())
        return missing

    def finish(self, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Dense numbers (int32) of the kept rows and the ids they stand for, sorted: numerically when
        every id is a plain whole number, else as text. Ids only seen on dropped rows are left out."""
        codes = self.codes.view()
        if keep is not None:
            codes = _compact(codes, keep)
        known = self.known.to_numpy()
        order = np.argsort(known, kind="stable")
        used = np.zeros(len(known), bool)
        used[codes] = True
        used_sorted = used[order]
        rank = np.full(len(known), -1, np.int32)
        rank[order[used_sorted]] = np.arange(int(used_sorted.sum()), dtype=np.int32)
        for start in range(0, len(codes), 1 << 20):
            codes[start: start + (1 << 20)] = rank[codes[start: start + (1 << 20)]]
        ids = known[order[used_sorted]]
        return codes, ids.astype(np.int64) if ids.dtype.kind in "iu" else ids.astype(object)


# -- numbers and times ---------------------------------------------------------------------------

_FLOAT32_MAX = float(np.finfo(np.float32).max)
TIME_START, TIME_END = 0, 4102444800  # 1970-01-01 and 2100-01-01 (UTC), in seconds: the years accepted
_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|infinity|nan)"


def _arrow_numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`_parse_numbers` in one Arrow cast, when every filled cell of ``col`` is a plain number
    (the usual case); None when any is not (decimal commas, spaces, words: the careful path decides)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pa.array(col)
    try:
        numbers = pc.cast(array, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    missing = np.array(numbers.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    values = np.array(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)  # a writable copy
    values[missing] = np.nan
    return values, missing, np.zeros(len(values), bool)


def _parse_numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float values, the mask of missing cells and the mask of cells that are not numbers. A decimal comma
    ("4,5") is read as a decimal point."""
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(float)
    if pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(np.float64, na_value=np.nan)
        return values, np.isnan(values), np.zeros(len(values), bool)
    if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":
        quick = _arrow_numbers(col)
        if quick is not None:
            return quick
    text = col.astype("str").where(col.notna()).str.strip()
    missing = (text.isna() | (text == "")).to_numpy()
    comma = text.str.fullmatch(r"[-+]?\d+,\d+").fillna(False).to_numpy(dtype=bool)
    if comma.any():
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
    numeric = text.str.fullmatch(_NUMBER, case=False).fillna(False).to_numpy(dtype=bool)
    values = np.full(len(text), np.nan)
    if numeric.any():  # a regular expression and a cast are much faster than pd.to_numeric on text
        values[numeric] = text[numeric].astype("float64").to_numpy(np.float64)
    return values, missing, ~missing & ~numeric


@dataclass
class _TimeReader:
    """Reads a time column chunk by chunk, in the way its first filled chunk showed: ``mode`` "number"
    (seconds, or milli/micro/nanoseconds recognised by size: ``scale``), "datetime" (already dates), or
    "iso" / "mixed" (text dates, ISO or other formats; read as UTC)."""

    mode: str | None = None
    scale: float = 1.0
    note: str | None = None

    def parse(self, col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Seconds since 1970 (int64; 0 where not usable), and the masks of missing cells, unreadable
        cells, and readable times outside 1970-2100."""
        if self.mode is None:
            self._decide(col)
        if self.mode in (None, "number"):
            values, missing, bad = _parse_numbers(col)
            good = ~missing & ~bad & np.isfinite(values)
            seconds_f = np.where(good, values, 0.0) / self.scale
        else:
            if pd.api.types.is_datetime64_any_dtype(col):
                parsed, missing = col, col.isna().to_numpy()
            else:
                text = col.astype("str").where(col.notna()).str.strip()
                missing = (text.isna() | (text == "")).to_numpy()
                fmt = "mixed" if self.mode == "mixed" else "ISO8601"
                parsed = pd.to_datetime(text, errors="coerce", format=fmt, utc=True)
            good = ~missing & parsed.notna().to_numpy()
            seconds_f = _datetimes_to_seconds(parsed).astype(np.float64)
        inside = good & (seconds_f >= TIME_START) & (seconds_f < TIME_END)
        seconds = np.zeros(len(col), np.int64)
        seconds[inside] = np.floor(seconds_f[inside]).astype(np.int64)
        return seconds, missing, ~missing & ~good, good & ~inside

    def _decide(self, col: pd.Series) -> None:
        if pd.api.types.is_datetime64_any_dtype(col):
            if col.notna().any():
                self.mode = "datetime"
            return
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            numeric_text = True
        else:
            sample = col.dropna().astype("str").str.strip().head(500)
            sample = sample[sample != ""]
            if sample.empty:
                return
            numeric_text = bool(sample.str.fullmatch(_NUMBER, case=False).mean() > 0.9)
        if numeric_text:
            values, missing, bad = _parse_numbers(col)
            present = ~missing
            if not present.any():
                return
            if bad[present].mean() <= 0.1:
                self.mode = "number"
                good = present & ~bad & np.isfinite(values)
                if good.any():
                    typical = float(np.median(np.abs(values[good])))
                    for limit, factor, unit in ((1e17, 1e9, "nanoseconds"), (1e14, 1e6, "microseconds"),
                                                (1e11, 1e3, "milliseconds")):
                        if typical > limit:
                            self.scale, self.note = factor, f"timestamps are in {unit} since 1970; converted to seconds"
                            break
                    else:
                        if typical < 1e8:
                            self.note = "timestamps are small numbers, not dates: they only give the order of events"
                return
        text = col.astype("str").where(col.notna()).str.strip()
        present = ~(text.isna() | (text == "")).to_numpy()
        if not present.any():
            return
        self.mode, self.note = "iso", "timestamps are dates/times in ISO format (read as UTC)"
        parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        if parsed[present].isna().mean() > 0.1:
            # other formats are parsed value by value (slow): try a sample first
            sample = text[present].head(500)
            if pd.to_datetime(sample, errors="coerce", format="mixed", utc=True).notna().mean() > 0.5:
                mixed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
                if mixed.notna().sum() > parsed.notna().sum():
                    self.mode, self.note = "mixed", "timestamps are dates/times (format guessed; read as UTC)"


def _datetimes_to_seconds(series: pd.Series) -> np.ndarray:
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    stamps = series.to_numpy(dtype="datetime64[s]")
    out = stamps.astype(np.int64)
    out[np.isnat(stamps)] = 0
    return out


def _judge_feedback(values: np.ndarray | None, column: str | None) -> tuple[bool, str]:
    """Whether values are explicit ratings (a bounded scale) or implicit weights, and why."""
    if values is None or column is None:
        return False, "no rating column: every row counts as one interaction (implicit feedback)"
    distinct = np.unique(values)
    name = _norm(column)
    lo, hi = float(distinct[0]), float(distinct[-1])
    bounded = len(distinct) <= 21 and -10 <= lo and hi <= 10
    if len(distinct) == 1:
        return False, (f"every value in {column!r} is {_num(lo)}, which says nothing about preference; "
                       "treated as implicit feedback")
    if name in COUNT_NAMES or any(p in name for p in ("play", "count", "click", "view", "listen")):
        return False, f"{column!r} looks like counts or weights: implicit feedback"
    if name in RATING_NAMES or any(p in name for p in ("rating", "score", "star")):
        if len(distinct) > 101 and hi > 100 and np.all(distinct == np.round(distinct)):
            return False, f"{column!r} is named like a rating but its values look like counts: implicit feedback"
        return True, f"{column!r} holds ratings from {_num(lo)} to {_num(hi)}: explicit feedback"
    if bounded and len(distinct) >= 3:
        return True, f"{column!r} looks like a rating scale ({_num(lo)} to {_num(hi)}): explicit feedback"
    return False, f"{column!r} looks like weights or counts: implicit feedback"


def _mostly_bad_error(name: str, column: str, role: str, bad: int, present: int,
                      examples: list[tuple[int, str]], word: str) -> DataError:
    shown = ", ".join(f"{word} {line}: {text[:30]!r}" for line, text in examples[:3])
    flag = "--rating-col none" if role == "rating" else "--time-col none"
    kind = "numbers" if role == "rating" else "dates or times"
    return DataError(
        f"Column {column!r} (the {ROLE_WORDS[role]}) in {name} does not hold {kind}: {bad:,} of "
        f"{present:,} values cannot be read ({shown}). Choose another column, fix the values, or "
        f"load without this column ({flag}, or 'none' in the column picker)."
    )


# -- rows dropped, and why -----------------------------------------------------------------------

# Each dropped row counts once, under the first of these that applies.
REASONS = (
    "repeated header row", "missing user id", "missing item id", "missing rating", "rating is not a number",
    "rating is not finite", "rating is too large", "missing timestamp", "timestamp cannot be read",
    "timestamp before 1970 or after 2100",
)
_BIT = {reason: np.uint16(1 << i) for i, reason in enumerate(REASONS)}
_RATING_BITS = np.uint16(sum(int(_BIT[r]) for r in REASONS if "rating" in r))
_TIME_BITS = np.uint16(sum(int(_BIT[r]) for r in REASONS if "timestamp" in r))


def _header_rows(frame: pd.DataFrame, cells: Mapping[str, str]) -> np.ndarray:
    """Rows whose every used cell repeats its column's header (a header row pasted again mid-file)."""
    mask = np.ones(len(frame), bool)
    for col, header in cells.items():
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            return np.zeros(len(frame), bool)
        text = values.astype("str")
        # a substring search first: cheap, and almost always finds nothing
        near = text.str.contains(header.strip(), case=False, regex=False).fillna(False).to_numpy(dtype=bool)
        mask &= near
        if not mask.any():
            break
        same = text[mask].str.strip().str.lower() == header.strip().lower()
        mask[np.flatnonzero(mask)[~same.fillna(False).to_numpy(dtype=bool)]] = False
    return mask


class _Loader:
    """Builds :class:`Interactions` from a table's rows, chunk by chunk: only the compact per-row arrays
    (two int32 codes, a float32 value, an int64 time, a uint16 of reasons) are kept between chunks."""

    def __init__(self, name: str, mapping: Mapping[str, str | None], header: Mapping[str, str] | None,
                 word: str, rows_hint: int = 0) -> None:
        self.name, self.mapping, self.header, self.word = name, dict(mapping), header, word
        capacity = int(rows_hint * 1.05) + 1024 if rows_hint else 1 << 20
        self.users, self.items = _IdColumn(capacity), _IdColumn(capacity)
        self.values = _Growing(np.float32, capacity) if mapping["rating"] is not None else None
        self.stamps = _Growing(np.int64, capacity) if mapping["time"] is not None else None
        self.bits = _Growing(np.uint16, capacity)
        self.flagged_lines: list[np.ndarray] = []
        self.ragged: list[int] = []
        self.times = _TimeReader()
        self.n = 0
        self.present = {"rating": 0, "time": 0}
        self.unreadable = {"rating": 0, "time": 0}
        self.unreadable_examples: dict[str, list[tuple[int, str]]] = {"rating": [], "time": []}

    def add(self, chunk: Chunk) -> None:
        frame = chunk.frame
        self.ragged.extend(chunk.ragged_lines)
        n = len(frame)
        lines = frame.index.to_numpy(np.int64)
        bits = np.zeros(n, np.uint16)
        header = _header_rows(frame, self.header) if self.header else np.zeros(n, bool)
        bits[header] |= _BIT["repeated header row"]
        bits[self.users.add(frame[self.mapping["user"]])] |= _BIT["missing user id"]
        bits[self.items.add(frame[self.mapping["item"]])] |= _BIT["missing item id"]
        rating_col, time_col = self.mapping["rating"], self.mapping["time"]
        if rating_col is not None and self.values is not None:
            values, missing, text = _parse_numbers(frame[rating_col])
            finite = np.isfinite(values)
            with np.errstate(invalid="ignore"):
                large = finite & (np.abs(values) > _FLOAT32_MAX)
            ok = ~missing & ~text & finite & ~large
            bits[missing] |= _BIT["missing rating"]
            bits[text] |= _BIT["rating is not a number"]
            bits[~missing & ~text & ~finite] |= _BIT["rating is not finite"]
            bits[large] |= _BIT["rating is too large"]
            self._count("rating", ~missing & ~header, text & ~header, frame[rating_col], lines)
            self.values.append(np.where(ok, values, 0.0).astype(np.float32))
        if time_col is not None and self.stamps is not None:
            seconds, missing, bad, outside = self.times.parse(frame[time_col])
            bits[missing] |= _BIT["missing timestamp"]
            bits[bad] |= _BIT["timestamp cannot be read"]
            bits[outside] |= _BIT["timestamp before 1970 or after 2100"]
            self._count("time", ~missing & ~header, bad & ~header, frame[time_col], lines)
            self.stamps.append(seconds)
        self.bits.append(bits)
        self.flagged_lines.append(lines[bits != 0])
        self.n += n

    def _count(self, role: str, present: np.ndarray, unreadable: np.ndarray, raw: pd.Series,
               lines: np.ndarray) -> None:
        self.present[role] += int(present.sum())
        self.unreadable[role] += int(unreadable.sum())
        examples = self.unreadable_examples[role]
        for i in np.flatnonzero(unreadable)[: max(0, 3 - len(examples))]:
            examples.append((int(lines[i]), str(raw.iloc[i])))

    def finish(self, notes: list[str], guessed: list[str], expected_fields: int) -> Interactions:
        """Every check that needs the whole file, then the numbering, duplicates and the report."""
        name, word, mapping = self.name, self.word, self.mapping
        alerts: list[str] = []
        for role in ("user", "item"):
            if self.n and (self.users if role == "user" else self.items).missing == self.n:
                raise DataError(
                    f"Column {mapping[role]!r} (the {ROLE_WORDS[role]}) is empty on every row of {name}. Choose "
                    f"the column that holds {ROLE_WORDS[role]}s (--{role}-col, or the column picker)."
                )
        discard = np.uint16(0)
        for role, role_bits in (("rating", _RATING_BITS), ("time", _TIME_BITS)):
            col = mapping[role]
            if col is None:
                continue
            if self.unreadable[role] > _MOSTLY_BAD * self.present[role] and self.present[role]:
                raise _mostly_bad_error(name, col, role, self.unreadable[role], self.present[role],
                                        self.unreadable_examples[role], word)
            if not self.present[role]:
                what = "ratings" if role == "rating" else "timestamps"
                alerts.append(f"Column {col!r} is empty on every row; loaded without {what}.")
                notes.append(f"ignored the empty column {col!r}")
                mapping[role] = None
                discard |= role_bits
                if role == "rating":
                    self.values = None
                else:
                    self.stamps = None
        if self.times.note and mapping["time"] is not None:
            notes.append(self.times.note)

        bits = self.bits.view()
        flagged = np.flatnonzero(bits)
        flagged_lines = np.concatenate(self.flagged_lines) if self.flagged_lines else np.zeros(0, np.int64)
        self.flagged_lines = []
        if discard:
            bits &= ~discard
        dropped: dict[str, int] = {}
        examples: dict[str, list[int]] = {}
        ragged = self.ragged
        if ragged:
            dropped["wrong number of fields"] = len(ragged)
            examples["wrong number of fields"] = [int(x) for x in ragged[:_EXAMPLES]]
        reasons = bits[flagged]
        taken = np.zeros(len(flagged), bool)
        for reason in REASONS:
            new = ((reasons & _BIT[reason]) != 0) & ~taken
            if new.any():
                dropped[reason] = int(new.sum())
                examples[reason] = _examples(flagged_lines, new)
                taken |= new
        del reasons, flagged, flagged_lines
        rows_read = self.n + len(ragged)
        if ragged and len(ragged) > self.n:
            raise DataError(
                f"Most rows of {name} do not have the {expected_fields} fields of its first line ({len(ragged):,} of "
                f"{rows_read:,}; e.g. lines {', '.join(map(str, ragged[:3]))}). Check the separator and that text "
                "containing commas is quoted."
            )
        keep = bits == 0
        self.bits = bits = None
        if not keep.any():
            if not dropped:
                raise DataError(f"{name} has no data rows.")
            top = max(dropped, key=lambda r: dropped[r])
            raise DataError(
                f"No usable rows in {name}: every row was dropped ({top}: {dropped[top]:,}, e.g. {word} "
                f"{', '.join(map(str, examples[top][:3]))}). Check the column choices: "
                + ", ".join(f"{r} = {c!r}" for r, c in mapping.items() if c) + "."
            )
        everything = bool(keep.all())
        users, user_ids = self.users.finish(None if everything else keep)
        if len(user_ids) < 2:
            raise DataError(
                f"{name} has a single user ({str(user_ids[0])!r} in column {mapping['user']!r}); recommendations "
                "need the histories of at least two users (preferably hundreds). Check the user column or add "
                "more users."
            )
        items, item_ids = self.items.finish(None if everything else keep)
        if len(item_ids) < 2:
            raise DataError(
                f"{name} has a single item ({str(item_ids[0])!r} in column {mapping['item']!r}); there is nothing "
                "to choose between. Check the item column or add more items."
            )
        values = stamps = None
        if self.values is not None:
            values = self.values.view() if everything else _compact(self.values.view(), keep)
        if self.stamps is not None:
            stamps = self.stamps.view() if everything else _compact(self.stamps.view(), keep)
        self.values = self.stamps = None
        del keep
        explicit, feedback_note = _judge_feedback(values, mapping["rating"])
        notes.append(feedback_note)
        notes.extend(guessed)
        if guessed:
            alerts.append("Check the columns: " + "; ".join(guessed) + ".")
        users, items, values, stamps, dup_rows, dup_pairs, how = _combine_duplicates(
            users, items, len(item_ids), values, stamps, explicit,
            what=f"the weights in column {mapping['rating']!r} of {name}",
        )
        report = DataReport(
            source=name, rows_read=rows_read, dropped=dropped, dropped_examples=examples, line_word=word,
            duplicate_rows=dup_rows, duplicate_pairs=dup_pairs, duplicates_combined=how,
            columns={r: mapping[r] for r in ROLES}, detected=notes, warnings=alerts, explicit=explicit,
        )
        inter = Interactions(
            users=users, items=items, user_ids=user_ids, item_ids=item_ids,
            values=None if values is None else values.astype(np.float32, copy=False),
            timestamps=stamps, explicit=explicit, report=report,
        )
        _fill_report(report, inter)
        return inter


def _header_cells(header: list[str] | None, columns: list[str], mapping: Mapping[str, str | None]) -> dict[str, str]:
    """The header text of each used column (for spotting repeated header rows); empty without a header."""
    if not header:
        return {}
    position = {c: i for i, c in enumerate(columns)}
    return {col: header[position[col]] for col in mapping.values()
            if col is not None and col in position and position[col] < len(header) and header[position[col]]}


def interactions_from_frame(frame: pd.DataFrame, columns: Mapping[str, str | None] | None = None) -> Interactions:
    """Clean a table from :func:`read_table` into :class:`Interactions` with its :class:`DataReport`.

    Rows with a missing id, a rating or timestamp that cannot be read, a rating beyond float32's range
    (about ±3.4e38), a timestamp before 1970 or from 2100 on, or a repeat of the header row are dropped
    (counted under their first reason, see ``REASONS``, with example line numbers). Duplicate (user, item)
    pairs are combined: explicit ratings keep the latest (by timestamp, else the last row), implicit
    weights are summed (without a weight column the value becomes the number of rows). ``columns``
    overrides the detected column of any role; ``None`` or ``"none"`` for rating or time means "no such
    column". Ids follow :func:`normalise_ids`.

    A rating or time column where more than half of the filled cells cannot be read (e.g. ratings written
    as words) is a :class:`DataError` rather than a silent fallback, because the user chose or named that
    column expecting it to be used; the message says how to load without it. Fewer bad cells are dropped
    with a warning. A single user or a single item is a :class:`DataError` (nothing to learn or rank).
    """
    name = str(frame.attrs.get("source", "the data"))
    mapping, guessed = _resolve_columns(frame, columns, name)
    _require_ids(mapping, frame.columns, name)
    word = "line" if frame.attrs.get("line_index", False) else "row"
    if not frame.attrs.get("line_index", False):
        frame = frame.set_axis(pd.RangeIndex(1, len(frame) + 1, name="row"))
    loader = _Loader(name, mapping, _header_cells(frame.attrs.get("header"), [str(c) for c in frame.columns],
                                                  mapping), word, rows_hint=len(frame))
    loader.add(Chunk(frame, list(frame.attrs.get("ragged_lines", []))))
    return loader.finish(list(frame.attrs.get("notes", [])), guessed,
                         int(frame.attrs.get("expected_fields", frame.shape[1])))


def _require_ids(mapping: Mapping[str, str | None], columns: Any, name: str) -> None:
    if mapping["user"] is None or mapping["item"] is None:
        raise DataError(f"{name} needs a column of user ids and a column of item ids; its columns are: "
                        f"{', '.join(map(str, columns))}.")


_SAMPLE_ROWS = 1_000  # rows read first to detect the columns


def load_interactions(source: Any, columns: Mapping[str, str | None] | None = None) -> Interactions:
    """Read a file of interactions (path, bytes, or uploaded file object) into :class:`Interactions` with a
    :class:`DataReport` as ``.report``; cleaned as :func:`interactions_from_frame` says. ``columns`` maps
    roles ``user``, ``item``, ``rating``, ``time`` to column names (case-insensitive) and overrides
    detection. The file is read in chunks, so memory holds about 21 bytes per row beyond the file itself.
    Raises :class:`DataError` (one line, worded for the user) when
    the file cannot be used."""
    table = open_table(source)

    def first_rows(chunks: Iterator[Chunk]) -> pd.DataFrame:
        frames = [chunk.frame for chunk in chunks]
        return pd.concat(frames) if frames else pd.DataFrame(columns=table.columns)

    sample = table.read(first_rows, max_rows=_SAMPLE_ROWS, all_text=False)
    mapping, guessed = _resolve_columns(sample, columns, table.name)
    _require_ids(mapping, table.columns, table.name)
    header = _header_cells(table.header, table.columns, mapping)
    word = "line" if table.line_index else "row"

    def load(chunks: Iterator[Chunk]) -> _Loader:
        loader = _Loader(table.name, mapping, header, word, rows_hint=table.rows_hint)
        for chunk in chunks:
            loader.add(chunk)
        return loader

    loader = table.read(load, all_text=False)
    if loader.n == 0 and not loader.ragged:
        raise no_rows(table)
    notes = list(table.notes)
    if table.blank_lines:
        notes.append(f"skipped {table.blank_lines} blank line(s)")
    return loader.finish(notes, guessed, len(table.columns))


def _pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    key = users.astype(np.int64)
    key *= n_items
    key += items
    return key


def _repeated_pairs(users: np.ndarray, items: np.ndarray, n_items: int, block: int = 1 << 20) -> np.ndarray:
    """Rows whose (user, item) pair appears more than once. The pair keys are sorted in place and only the
    repeated ones kept, so this needs one int64 per row for a moment (a hash table needs several)."""
    key = _pair_keys(users, items, n_items)
    key.sort()
    twice = key[1:] == key[:-1]
    if not twice.any():
        return np.zeros(len(users), bool)
    repeated_keys = np.unique(key[1:][twice])
    del key, twice
    repeated = np.zeros(len(users), bool)
    last = len(repeated_keys) - 1
    for start in range(0, len(users), block):
        part = _pair_keys(users[start: start + block], items[start: start + block], n_items)
        found = repeated_keys[np.minimum(np.searchsorted(repeated_keys, part), last)] == part
        repeated[start: start + block] = found
    return repeated


def _combine_duplicates(
    users: np.ndarray, items: np.ndarray, n_items: int, values: np.ndarray | None,
    stamps: np.ndarray | None, explicit: bool, what: str = "the weights",
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, int, int, str]:
    """One row per (user, item), in file order of the row kept for each pair: explicit data keeps the
    latest row (by timestamp, then file order), implicit data keeps the first row with the values summed
    (or counted) and the latest timestamp. Sums beyond float32's range are a :class:`DataError` naming
    ``what`` was summed. The arrays given are overwritten (the results are views of them)."""
    repeated = _repeated_pairs(users, items, n_items)
    if not repeated.any():
        return users, items, values, stamps, 0, 0, ""
    rows = np.flatnonzero(repeated)
    key = _pair_keys(users[rows], items[rows], n_items)
    if explicit and stamps is not None:
        order = np.lexsort((rows, stamps[rows], key))
    else:
        order = np.lexsort((rows, key))
    sorted_key = key[order]
    order = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    dup_pairs, dup_rows = len(starts), int(len(order) - len(starts))
    keep = ~repeated
    del repeated
    if explicit:
        keep[order[starts + sizes - 1]] = True
        how = ("kept the latest rating of each pair (by timestamp)" if stamps is not None
               else "kept the last rating of each pair in the file (no timestamps)")
    else:
        first = order[starts]  # rows sorted by (key, row): the first of each group is its first row
        keep[first] = True
        if values is None:
            values = np.ones(len(users), np.float32)
            values[first] = sizes
            how = "counted them: each pair's value is now the number of times it appears"
        else:
            sums = np.add.reduceat(values[order], starts, dtype=np.float64)
            if not np.all(np.abs(sums) <= _FLOAT32_MAX):
                raise DataError(
                    f"Summed over repeated rows of one user and item, {what} pass {_FLOAT32_MAX:.3g}, the largest "
                    "number Tastemaker stores. Scale the weights down and load the file again."
                )
            values[first] = sums
            how = "summed their values"
        if stamps is not None:
            stamps[first] = np.maximum.reduceat(stamps[order], starts)
            how += " and kept the latest timestamp"
    return (
        _compact(users, keep), _compact(items, keep), None if values is None else _compact(values, keep),
        None if stamps is None else _compact(stamps, keep), dup_rows, dup_pairs, how,
    )


def _fill_report(report: DataReport, inter: Interactions) -> None:
    """Statistics, warnings, and the suggested split and models."""
    n = len(inter)
    report.n_interactions, report.n_users, report.n_items = n, inter.n_users, inter.n_items
    report.density = float(inter.density)
    counts = inter.item_counts()
    report.top_percent = HEAD_PERCENT
    report.top_items = len(popularity_bands.top_items(counts, HEAD_PERCENT))
    report.top_items_share = popularity_bands.interaction_share(counts, HEAD_PERCENT)
    report.hits_items = len(popularity_bands.top_items(counts, HITS_PERCENT))
    report.hits_share = popularity_bands.interaction_share(counts, HITS_PERCENT)
    user_counts = inter.user_counts()
    report.cold_users = int((user_counts < COLD_USER_INTERACTIONS).sum())
    if inter.values is not None:
        distinct = np.unique(inter.values)
        lo, hi = float(distinct[0]), float(distinct[-1])
        if inter.explicit:
            report.rating_scale = {"min": lo, "max": hi, "distinct": int(len(distinct)),
                                   "values": [float(v) for v in distinct] if len(distinct) <= 21 else None}
        else:
            report.value_range = {"min": lo, "median": float(np.median(inter.values)), "max": hi}
            nonpositive = int((inter.values <= 0).sum())
            if nonpositive:
                report.warnings.append(
                    f"{nonpositive:,} interactions have a zero or negative weight in "
                    f"{report.columns.get('rating')!r}; implicit models read weights as confidence, so "
                    "these count as (near) absent."
                )
    days = 0.0
    if inter.timestamps is not None and n:
        lo_t, hi_t = int(inter.timestamps.min()), int(inter.timestamps.max())
        days = (hi_t - lo_t) / 86400
        report.time_range = {"start": _iso(lo_t), "end": _iso(hi_t), "days": round(days, 3)}
        now = datetime.now(timezone.utc).timestamp()
        if hi_t > now + 366 * 86400:
            report.warnings.append(
                f"Some timestamps are more than a year in the future (up to {_iso(hi_t)}); check the unit of "
                "the time column."
            )
    if report.dropped:
        total = report.rows_dropped
        share = total / max(1, report.rows_read)
        report.warnings.insert(0, (
            f"Dropped {total:,} of {report.rows_read:,} rows ({share:.1%}): "
            + "; ".join(f"{r} ({c:,}{_example_text(report, r)})" for r, c in report.dropped.items())
            + (". That is a lot: check the column choices and the file." if share > 0.2 else ".")
        ))
    if n < 100:
        report.warnings.append(f"Only {n:,} interactions: too few to train or evaluate models reliably.")
    if report.cold_user_share > 0.5:
        report.warnings.append(
            f"{report.cold_user_share:.0%} of users have fewer than {COLD_USER_INTERACTIONS} interactions; "
            "personalised models have little to go on for them."
        )
    if report.density > 0.5:
        report.warnings.append(
            f"{report.density:.0%} of all user-item pairs are filled: almost everyone interacted with almost "
            "everything, so there is little left to recommend."
        )

    if inter.timestamps is not None and days >= 7:
        report.suggested_split = "temporal"
        report.split_reason = (f"Timestamps span {_span(days)}, so holding out each user's latest "
                               "interactions tests the models the way they will be used: predicting what comes next.")
    elif inter.timestamps is not None:
        report.split_reason = (f"Timestamps span only {_span(days)}, too short for time to matter, so a random "
                               "hold-out of each user's interactions is the fair test.")
    else:
        report.split_reason = ("There are no timestamps, so a random hold-out of each user's interactions "
                               "is the fair test.")

    models = [{"model": "popularity", "reason": "the baseline: every personalised model should beat it"}]
    if inter.n_items <= 20_000:
        models.append({"model": "ease", "reason": f"closed-form and usually the most accurate on catalogues of "
                       f"this size ({inter.n_items:,} items); trains in seconds"})
    if inter.explicit:
        models.append({"model": "mf", "reason": "learns from the rating values themselves (explicit ratings)"})
    if not inter.explicit or inter.n_items > 20_000:
        models.append({"model": "ials", "reason": "built for implicit feedback such as plays, clicks and counts, "
                       "and scales to large catalogues"})
    models.append({"model": "itemknn", "reason": "simple and explainable: 'because you liked ...'"})
    if not inter.explicit and inter.n_users >= 5_000:
        models.append({"model": "multvae", "reason": "learns well from many users with rich histories"})
    report.suggested_models = models


def _example_text(report: DataReport, reason: str) -> str:
    lines = report.dropped_examples.get(reason) or []
    if not lines:
        return ""
    word = report.line_word + ("s" if len(lines) > 1 else "")
    return f", e.g. {word} {', '.join(map(str, lines[:3]))}"


def _iso(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return str(seconds)


# =============================================================================================
# Catalogues
# =============================================================================================

CATALOG_ID_NAMES = tuple(n for n in ITEM_NAMES if n not in ("title", "name")) + ("id", "key", "code")
TITLE_NAMES = ("title", "name", "movietitle", "itemname", "productname", "trackname", "songname",
               "booktitle", "displayname", "label", "primarytitle", "originaltitle")
TAG_NAMES = ("genres", "genre", "tags", "tag", "categories", "category", "keywords", "labels", "topics",
             "styles", "style", "subjects", "subject", "themes")
DESCRIPTION_NAMES = ("description", "overview", "summary", "plot", "synopsis", "about", "abstract", "blurb",
                     "text", "body", "details")
# Who made an item (lower case, letters and digits only), best first: music, books, film, games, products.
CREATOR_NAMES = ("creator", "creators", "creatorname", "artist", "artists", "artistname", "performer", "band",
                 "composer", "author", "authors", "authorname", "writer", "director", "directors", "studio",
                 "studios", "developer", "designer", "illustrator", "photographer", "brand", "brandname",
                 "manufacturer", "maker", "publisher", "label", "recordlabel", "channel", "channelname",
                 "producer", "network", "seller", "sellername", "vendor")
IMAGE_NAMES = ("imageurl", "image", "poster", "posterurl", "posterpath", "thumbnail", "thumbnailurl", "cover",
               "coverurl", "img", "imgurl", "picture", "photo", "artwork", "imagelink", "imageurll")
NO_TAG_WORDS = {"(no genres listed)", "(no tags)", "none", "n/a", "na", "-", ""}


def _split_tags(values: pd.Series) -> list[list[str]]:
    """Each cell split on the separator the column uses most ("|", ";" or ","), stripped, de-duplicated."""
    present = values.dropna().astype(str)
    counts = {sep: int(present.str.count(re.escape(sep)).sum()) for sep in ("|", ";", ",")}
    sep = max(counts, key=lambda s: (counts[s], s == "|")) if any(counts.values()) else "|"
    out: list[list[str]] = []
    for cell in values.tolist():  # plain Python strings: iterating Arrow text is slow
        if not isinstance(cell, str):
            out.append([])
            continue
        tags = [t.strip() for t in cell.split(sep)]
        out.append(list(dict.fromkeys(t for t in tags if t.lower() not in NO_TAG_WORDS)))
    return out


def load_items(source: Any, id_column: str | None = None, creator_column: str | None = None) -> Catalog:
    """Read an item catalogue into a :class:`Catalog`: ``item_id`` (text), ``title``, ``tags`` (list; from
    every genre/tag/category column, split on ``|``, ``,`` or ``;``), ``description``, ``image_url`` and
    ``creator`` (see :data:`CREATOR_NAMES`). Columns are found by name (case-insensitive); the id falls back
    to the first column. ``creator_column`` names the creator column, or ``""`` for none (None: detect).
    Items listed twice keep their first row. ``catalog.report`` counts what was found."""
    frame = read_table(source, all_text=True)
    name = str(frame.attrs.get("source", "the catalogue"))
    notes: list[str] = list(frame.attrs.get("notes", []))
    alerts: list[str] = []
    cols = [str(c) for c in frame.columns]
    by_lower = {c.lower(): c for c in cols}
    if id_column is not None:
        id_col = by_lower.get(str(id_column).strip().lower())
        if id_col is None:
            raise DataError(f"Column {id_column!r} (the item id) is not in {name}; its columns are: {', '.join(cols)}.")
    else:
        id_col = _match_role(cols, CATALOG_ID_NAMES, ("id",), set())
        if id_col is None:
            id_col = cols[0]
            notes.append(f"no column looked like an item id; used the first column, {id_col!r}")
    taken = {id_col}

    def pick(names: tuple[str, ...]) -> str | None:
        col = _match_role(cols, names, (), taken)
        if col is not None:
            taken.add(col)
        return col

    title_col = pick(TITLE_NAMES)
    if creator_column is None:
        creator_col = pick(CREATOR_NAMES)
    elif str(creator_column).strip() == "":
        creator_col = None
    else:
        creator_col = by_lower.get(str(creator_column).strip().lower())
        if creator_col is None or creator_col in taken:
            raise DataError(f"Column {creator_column!r} (who made each item) is not in {name} or is already used "
                            f"as the item id or title; its columns are: {', '.join(cols)}.")
        taken.add(creator_col)
    description_col = pick(DESCRIPTION_NAMES)
    image_col = pick(IMAGE_NAMES)
    if image_col is None:
        for col in cols:
            if col in taken:
                continue
            sample = frame[col].dropna().astype(str).head(200)
            if len(sample) and sample.str.match(r"^https?://\S+\.(jpe?g|png|gif|webp)(\?\S*)?$", case=False).mean() > 0.8:
                image_col = col
                taken.add(col)
                notes.append(f"column {col!r} holds image links")
                break
    tag_cols = [c for c in cols if c not in taken and (_norm(c) in TAG_NAMES)]

    ids = normalise_ids(frame[id_col])
    missing = ids.isna().to_numpy()
    cells = _header_cells(frame.attrs.get("header"), cols, {"item": id_col, "title": title_col})
    repeated = _header_rows(frame, cells) if cells else np.zeros(len(frame), bool)
    if repeated.any():  # a header row pasted again mid-file is not an item
        lines = ", ".join(map(str, frame.index[repeated][:_EXAMPLES]))
        alerts.append(f"{int(repeated.sum()):,} rows repeat the header row (line {lines}); they were skipped.")
    skip = missing | repeated
    if skip.all():
        raise DataError(f"Column {id_col!r} (the item id) is empty on every row of {name}. Choose the id column.")
    out = pd.DataFrame({"item_id": ids.to_numpy(dtype=object)})
    out["title"] = (frame[title_col].fillna("").astype(str).str.strip().to_numpy(dtype=object)
                    if title_col else out["item_id"])
    tags: list[list[str]] = [[] for _ in range(len(frame))]
    for col in tag_cols:
        for row, extra in zip(tags, _split_tags(frame[col]), strict=True):
            row.extend(t for t in extra if t not in row)
    out["tags"] = tags
    out["description"] = (frame[description_col].fillna("").astype(str).to_numpy(dtype=object)
                          if description_col else "")
    out["image_url"] = frame[image_col].fillna("").astype(str).to_numpy(dtype=object) if image_col else ""
    out["creator"] = (frame[creator_col].fillna("").astype(str).str.strip().to_numpy(dtype=object)
                      if creator_col else "")
    out = out[~skip]
    duplicated = out["item_id"].duplicated().to_numpy()
    out = out[~duplicated].reset_index(drop=True)
    if missing.any():
        alerts.append(f"{int(missing.sum()):,} rows have no item id and were skipped.")
    if duplicated.any():
        alerts.append(f"{int(duplicated.sum()):,} items are listed more than once; kept their first row.")
    if title_col is None:
        alerts.append("No title column found; items are shown by id.")
    distinct_tags = {t for row in out["tags"] for t in row}
    report = {
        "source": name,
        "rows": int(len(frame)),
        "items": int(len(out)),
        "missing_ids": int(missing.sum()),
        "duplicate_ids": int(duplicated.sum()),
        "columns": {"item_id": id_col, "title": title_col, "tags": tag_cols, "description": description_col,
                    "image_url": image_col, "creator": creator_col},
        "with_title": int((out["title"] != out["item_id"]).sum()) if title_col else 0,
        "with_tags": int(sum(1 for row in out["tags"] if row)),
        "distinct_tags": len(distinct_tags),
        "with_description": int((out["description"].astype(str).str.strip() != "").sum()),
        "with_image": int((out["image_url"].astype(str).str.strip() != "").sum()),
        "all_columns": cols,
        "with_creator": int((out["creator"].astype(str) != "").sum()),
        "distinct_creators": int(out.loc[out["creator"].astype(str) != "", "creator"].nunique()),
        "detected": notes,
        "warnings": alerts,
    }
    return Catalog(frame=out, report=report)


CONTENT_SHARE = 0.5  # content-based recommending needs at least this share of the items described


def describes_items(coverage: Mapping[str, Any] | None) -> bool:
    """Whether a catalogue describes the items well enough to recommend by content: tags, genres or
    descriptions for at least :data:`CONTENT_SHARE` of the interacted items (``share_described`` of
    :func:`catalog_coverage`). Titles or names alone do not count."""
    return bool(coverage) and float(coverage.get("share_described", 0) or 0) >= CONTENT_SHARE


def catalog_coverage(catalog: Catalog, inter: Interactions) -> dict[str, Any]:
    """How a catalogue and interactions match by item id: counts on each side (never fatal)."""
    known = {str(i) for i in catalog.frame["item_id"].tolist()}
    ids = [str(i) for i in inter.item_ids]
    present = np.array([i in known for i in ids], dtype=bool)
    frame = catalog.frame
    described_ids = {str(i) for i, t, d in zip(frame["item_id"].tolist(), frame["tags"].tolist(),
                                                frame["description"].tolist(), strict=True)
                     if t or str(d).strip()}
    described = sum(1 for i in ids if i in described_ids)
    return {
        "items_in_both": int(present.sum()),
        "items_without_catalog_entry": int((~present).sum()),
        "catalog_items_without_interactions": int(len(known) - present.sum()),
        "share_covered": float(present.mean()) if len(ids) else 0.0,
        "share_described": described / max(1, len(ids)),
        "examples_without_entry": [ids[i] for i in np.flatnonzero(~present)[:_EXAMPLES]],
    }


DEMO_DIR = Path(__file__).resolve().parents[1] / "assets" / "datasets" / "ml-latest-small"


def load_demo() -> tuple[Interactions, Catalog]:
    """The bundled MovieLens demo (ml-latest-small): ratings and the movie catalogue (genres as tags). The
    report notes the catalogue coverage."""
    inter = load_interactions(DEMO_DIR / "ratings.csv")
    catalog = load_items(DEMO_DIR / "movies.csv")
    inter.report.add_catalog(catalog_coverage(catalog, inter))
    return inter, catalog
