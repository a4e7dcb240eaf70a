"""The central data types: ``Interactions`` (who interacted with what) and ``Catalog`` (what the items are).

Loading files into them lives here too (``load_interactions``, ``load_items``), together with the one
error type, ``DataError``, whose message always names the problem, where it is, and what to do.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import popularity_bands
from recsys.popularity_bands import HEAD_PERCENT, HITS_PERCENT


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

_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_FIELD_SEPARATOR = "\x1f"  # stands in for MovieLens' two-character "::"


def _norm(name: object) -> str:
    """A column name reduced to lower-case letters and digits: "User ID" -> "userid"."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return Path(str(getattr(source, "name", "") or "uploaded file")).name


def _source_bytes(source: Any) -> bytes:
    """The raw bytes of a path, bytes, or file-like object (Streamlit's UploadedFile included)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise DataError(f"File not found: {path}. Check the path and try again.")
        if path.is_dir():
            raise DataError(f"{path} is a folder, not a file. Give the path of the interactions file inside it.")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DataError(f"Could not open {path}: {exc.strerror or exc}. Check that the file is readable.") from exc
    if hasattr(source, "getvalue"):
        data = source.getvalue()
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            try:
                source.seek(0)
            except (OSError, ValueError):
                pass
        data = source.read()
    else:
        raise DataError(f"Cannot read data from a {type(source).__name__}; give a file path or an uploaded file.")
    if isinstance(data, str):
        data = data.encode("utf-8")
    return bytes(data)


def _unwrap(raw: bytes, name: str, notes: list[str]) -> bytes:
    """Decompress gzip / bz2 / xz / zip content (recognised by its first bytes, not the name) and reject
    spreadsheets, which look like zip files too."""
    for _ in range(3):  # a file compressed twice is unusual but harmless
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except EOFError as exc:
                raise DataError(
                    f"{name} is a gzip file that is cut short (the download or copy did not finish). "
                    "Download or copy it again."
                ) from exc
            except (OSError, zlib.error) as exc:
                raise DataError(f"{name} is a damaged gzip file ({exc}). Download or copy it again.") from exc
            notes.append("decompressed gzip")
        elif raw[:3] == b"BZh":
            try:
                raw = bz2.decompress(raw)
            except (OSError, ValueError, EOFError) as exc:
                raise DataError(f"{name} is a damaged bzip2 file ({exc}). Download or copy it again.") from exc
            notes.append("decompressed bzip2")
        elif raw[:6] == b"\xfd7zXZ\x00":
            try:
                raw = lzma.decompress(raw)
            except (lzma.LZMAError, EOFError) as exc:
                raise DataError(f"{name} is a damaged xz file ({exc}). Download or copy it again.") from exc
            notes.append("decompressed xz")
        elif raw[:4] == b"PK\x03\x04":
            try:
                archive = zipfile.ZipFile(io.BytesIO(raw))
                names = [n for n in archive.namelist() if not n.endswith("/")]
            except zipfile.BadZipFile as exc:
                raise DataError(f"{name} is a damaged zip file. Download or copy it again.") from exc
            if any(n.startswith("xl/") for n in names) or "[Content_Types].xml" in names:
                raise DataError(
                    f"{name} is an Excel workbook, not a CSV file. Open it in your spreadsheet program and "
                    "save the sheet as CSV (comma-separated), then load that file."
                )
            tables = [n for n in names if re.search(r"\.(csv|tsv|dat|txt|parquet)(\.gz)?$", n.lower())]
            if len(tables) != 1:
                raise DataError(
                    f"{name} is a zip archive with {len(tables)} data files inside "
                    f"({', '.join(tables[:5]) or 'none'}). Unzip it and load the interactions file itself."
                )
            raw = archive.read(tables[0])
            notes.append(f"read {tables[0]} from the zip archive")
        elif raw[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            raise DataError(
                f"{name} is an old-style Excel (.xls) file, not a CSV file. Open it in your spreadsheet "
                "program and save the sheet as CSV, then load that file."
            )
        else:
            break
    return raw


def _decode_sample(raw: bytes) -> tuple[str, str]:
    """The encoding to use and the decoded start of the file: UTF-8 (BOM or not), else Windows-1252,
    else Latin-1 (which decodes anything)."""
    head = raw[: 1 << 16]
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding, head.decode(encoding, errors="ignore")
    return "latin-1", head.decode("latin-1")


def _looks_binary(raw: bytes) -> bool:
    sample = raw[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if (b < 32 and b not in (9, 10, 13, 12)) or b == 127)
    return controls > max(2, len(sample) // 100)


def _split_sample(text: str, delimiter: str) -> list[list[str]]:
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may end in the middle of a line
    lines = [ln for ln in lines[:200] if ln.strip()]
    return list(csv.reader(lines, delimiter=delimiter))


def _sniff_delimiter(text: str) -> str | None:
    """The delimiter whose field count is the most consistent (then the largest) over the first lines;
    None when every candidate gives a single column."""
    best: tuple[float, int] | None = None
    best_sep = None
    for sep in _DELIMITERS:
        rows = _split_sample(text, sep)
        if not rows:
            continue
        counts = np.array([len(r) for r in rows])
        values, freq = np.unique(counts, return_counts=True)
        mode = int(values[freq.argmax()])
        if mode < 2:
            continue
        score = (float(freq.max()) / len(counts), mode)
        if best is None or score > best:
            best, best_sep = score, sep
    return best_sep


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_table(source: Any, all_text: bool = False) -> pd.DataFrame:
    """Read a delimited text file (comma, semicolon, tab, pipe, MovieLens ``::``; gzip/bz2/xz/zip;
    UTF-8 with or without BOM, else Windows-1252/Latin-1) or a Parquet file into a DataFrame with the
    file's own columns.

    Text files come back indexed by their 1-based line number in the file (the header is line 1), so
    later messages can point at lines; ``frame.attrs`` holds ``source`` (the file name), ``line_index``
    (whether the index is line numbers) and ``notes`` (how the file was read). ``all_text`` keeps every
    column as text. Raises :class:`DataError` for anything that is not a readable table.
    """
    name = _source_name(source)
    notes: list[str] = []
    raw = _unwrap(_source_bytes(source), name, notes)
    if not raw[: 1 << 16].strip() and not raw.strip():
        raise DataError(f"{name} is empty (no rows at all). Choose the file that holds your interactions.")
    if raw[:4] == b"PAR1":
        frame = _read_parquet(raw, name, all_text)
        notes.append("read as Parquet")
        frame.attrs.update(source=name, line_index=False, notes=notes)
        return frame
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raw = raw.decode("utf-16").encode("utf-8")
        notes.append("converted from UTF-16")
    if _looks_binary(raw):
        raise DataError(
            f"{name} does not contain text: it looks like binary data (an image, archive or program file), "
            "not a CSV table. Export your interactions as CSV (one row per user-item interaction) and load that."
        )
    leading = re.match(rb"(?:[ \t]*\r?\n|[ \t]*\r)+", raw)
    skipped_lines = 0
    if leading:  # blank lines before the header: pandas would take the first one as the header
        skipped_lines = leading.group(0).count(b"\n") or leading.group(0).count(b"\r")
        raw = raw[leading.end():]
    encoding, text = _decode_sample(raw)
    stripped = text.lstrip()
    lower = stripped[:200].lower()
    if lower.startswith(("<!doctype", "<html", "<?xml", "<head", "<body", "<table", "<div")) or (
        lower.startswith("<") and "<html" in text[:4000].lower()
    ):
        raise DataError(
            f"{name} is a web page (HTML), not a CSV table; this often happens when a download link saves "
            "the page around the file. Download the raw file (e.g. the 'Raw' or 'Download' button) and load it."
        )
    if stripped.startswith(("{", "[")):
        raise DataError(
            f"{name} contains JSON, not a CSV table. Convert it to CSV with one row per interaction and "
            "columns such as user, item, rating, timestamp (e.g. pandas.read_json(...).to_csv(...))."
        )
    if encoding != "utf-8-sig":
        notes.append(f"text is not UTF-8; read it as {'Windows-1252' if encoding == 'cp1252' else 'Latin-1'}")

    sep: str
    first_line = stripped.splitlines()[0] if stripped else ""
    if "::" in first_line:
        raw = raw.replace(b"::", _FIELD_SEPARATOR.encode())
        text = text.replace("::", _FIELD_SEPARATOR)
        sep = _FIELD_SEPARATOR
        notes.append("fields separated by '::' (MovieLens .dat style)")
    else:
        found = _sniff_delimiter(text)
        if found is None:
            rows = _split_sample(text, ",")
            if len(rows) > 1 and all(len(r[0].split()) >= 2 for r in rows[:50] if r):
                sep = r"\s+"
                notes.append("fields separated by spaces")
            else:
                header = first_line.strip()[:60]
                raise DataError(
                    f"{name} has only one column ({header!r}); Tastemaker needs at least a user column and an "
                    "item column. Separate the columns with commas, semicolons, tabs or '|', one interaction per line."
                )
        else:
            sep = found
            notes.append(f"{_DELIMITERS[sep]}-separated")

    sample_rows = _split_sample(text, sep if sep != r"\s+" else " ")
    if sep == r"\s+":
        sample_rows = [ln.split() for ln in text.splitlines()[:200] if ln.strip()]
    first = [f.strip() for f in sample_rows[0]] if sample_rows else []
    has_header = not any(_is_number(f) for f in first if f)
    if not has_header:
        notes.append("no header row: columns are named column1, column2, ...")
    width = len(first)
    names = None if has_header else [f"column{i + 1}" for i in range(width)]
    dtype: Any = str if all_text else _text_columns(sample_rows[1:] if has_header else sample_rows, first, has_header)
    options: dict[str, Any] = dict(
        sep=sep, header=0 if has_header else None, names=names, encoding=encoding, dtype=dtype,
        skip_blank_lines=False, skipinitialspace=True, low_memory=False,
    )
    if sep == r"\s+":
        options.pop("skipinitialspace")
    try:
        with warnings.catch_warnings():
            # rows longer than the header: pandas would silently drop fields; take the careful path instead
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.BytesIO(raw), index_col=False, **options)
        lines = np.arange(len(frame), dtype=np.int64) + (2 if has_header else 1)
        bad_lines: list[int] = []
    except (pd.errors.ParserError, pd.errors.ParserWarning):
        frame, lines, bad_lines = _read_ragged(raw, encoding, sep, has_header, names, all_text)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise DataError(f"Could not read {name} as a table ({reason}). Check that it is a CSV file.") from exc
    lines = lines + skipped_lines
    bad_lines = [line + skipped_lines for line in bad_lines]

    frame.columns = _unique_names(frame.columns)
    if frame.shape[1] < 2:
        raise DataError(
            f"{name} has only one column ({frame.columns[0]!r}); Tastemaker needs at least a user column and an "
            "item column. Separate the columns with commas, semicolons, tabs or '|'."
        )
    frame.index = pd.Index(lines, name="line")
    blank = frame.isna().all(axis=1).to_numpy()
    if blank.any():
        frame = frame[~blank]
        notes.append(f"skipped {int(blank.sum())} blank line(s)")
    if len(frame) == 0 and not bad_lines:
        cols = ", ".join(map(str, frame.columns))
        raise DataError(
            f"{name} has a header row ({cols}) but no data rows. Export the file again with its rows."
            if has_header else f"{name} has no data rows."
        )
    frame.attrs.update(source=name, line_index=True, notes=notes, ragged_lines=bad_lines,
                       expected_fields=width)
    return frame


def _unique_names(columns: Any) -> list[str]:
    """Column names on one line, without BOM; blanks named ``column<n>``, repeats suffixed ``.1``, ``.2``."""
    out: list[str] = []
    for j, col in enumerate(columns):
        text = " ".join(str(col).lstrip("\ufeff").split())
        if not text or text.startswith("Unnamed: "):
            text = f"column{j + 1}"
        base, k = text, 0
        while text in out:
            k += 1
            text = f"{base}.{k}"
        out.append(text)
    return out


def _text_columns(rows: list[list[str]], header: list[str], has_header: bool) -> dict[Any, Any]:
    """Columns to keep as text: those whose values start with a 0 followed by a digit in the sample
    (ids such as "00123" or ISBNs), which reading as numbers would change."""
    keep: dict[Any, Any] = {}
    for j in range(len(header)):
        values = [r[j].strip() for r in rows[:200] if len(r) > j]
        if any(len(v) > 1 and v[0] == "0" and v[1].isdigit() for v in values):
            keep[header[j] if has_header else f"column{j + 1}"] = str
    return keep


def _read_ragged(
    raw: bytes, encoding: str, sep: str, has_header: bool, names: list[str] | None, all_text: bool
) -> tuple[pd.DataFrame, np.ndarray, list[int]]:
    """The slow path for files whose rows have different numbers of fields: rows with the wrong count are
    left out and their line numbers returned."""
    text = raw.decode(encoding, errors="replace")
    if sep == r"\s+":
        rows_iter = ((i + 1, ln.split()) for i, ln in enumerate(text.splitlines()))
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, skipinitialspace=True)

        def numbered():
            start = 1
            for row in reader:
                yield start, row
                start = reader.line_num + 1

        rows_iter = numbered()
    header: list[str] | None = None
    good: list[list[str]] = []
    lines: list[int] = []
    bad: list[int] = []
    for line, row in rows_iter:
        if header is None:
            if not row or not any(f.strip() for f in row):
                continue
            header = [f.strip() for f in row] if has_header else (names or [])
            if has_header:
                continue
        if not row:
            continue  # blank line
        if len(row) != len(header):
            bad.append(line)
            continue
        good.append(row)
        lines.append(line)
    frame = pd.DataFrame(good, columns=_unique_names(header or []), dtype=object)
    frame = frame.replace({"": np.nan})
    if not all_text:
        for col in frame.columns:
            values = frame[col].dropna().astype(str).str.strip()
            if len(values) and not values.str.match(r"^0\d").any():
                converted = pd.to_numeric(frame[col], errors="coerce")
                if converted.notna().sum() == frame[col].notna().sum():
                    frame[col] = converted
    return frame, np.asarray(lines, dtype=np.int64), bad


def _read_parquet(raw: bytes, name: str, all_text: bool) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises many types for damaged files
        reason = " ".join(str(exc).split())[:160]
        raise DataError(f"{name} is a damaged or unsupported Parquet file ({reason}). Export it again.") from exc
    frame = frame.reset_index(drop=True)
    frame.index = pd.Index(np.arange(len(frame), dtype=np.int64) + 1, name="row")
    frame.columns = _unique_names(frame.columns)
    if all_text:
        frame = frame.astype(str).where(frame.notna(), np.nan)
    if frame.shape[1] < 2:
        raise DataError(f"{name} has only one column; Tastemaker needs at least a user column and an item column.")
    if len(frame) == 0:
        raise DataError(f"{name} has columns ({', '.join(frame.columns)}) but no rows.")
    return frame


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
            if col not in taken and pd.api.types.is_numeric_dtype(frame[col]):
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


def _looks_like_time(col: pd.Series) -> bool:
    sample = col.dropna().head(50)
    if sample.empty:
        return False
    if pd.api.types.is_datetime64_any_dtype(sample):
        return True
    if pd.api.types.is_numeric_dtype(sample):
        values = sample.to_numpy(dtype=float)
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
        if coverage.get("share_described", 0) >= 0.5 and "content" not in self.suggested_model_names:
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
    return f"{x:g}" if isinstance(x, float) else str(x)


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


def _clean_ids(col: pd.Series) -> tuple[np.ndarray | pd.Series, np.ndarray]:
    """Ids as int64 when every present value is a whole number written without leading zeros, else as
    stripped text; and the mask of missing ids (empty, NA)."""
    if pd.api.types.is_integer_dtype(col) and not pd.api.types.is_extension_array_dtype(col):
        return col.to_numpy(np.int64), np.zeros(len(col), bool)
    if pd.api.types.is_float_dtype(col):
        values = col.to_numpy(np.float64, na_value=np.nan)
        missing = ~np.isfinite(values)
        present = values[~missing]
        if np.all(present == np.round(present)) and (len(present) == 0 or np.abs(present).max() < 2**53):
            return np.where(missing, 0, values).astype(np.int64), missing
        text = np.array([f"{v:g}" for v in values], dtype=object)
        return text, missing
    if pd.api.types.is_datetime64_any_dtype(col):
        missing = col.isna().to_numpy()
        return col.astype(str).to_numpy(dtype=object), missing
    text = col.astype("str") if not pd.api.types.is_string_dtype(col) else col
    text = text.where(col.notna())
    text = text.str.strip()
    missing = (text.isna() | (text == "")).to_numpy()
    present = text[~missing]
    whole = re.compile(r"-?(0|[1-9]\d{0,17})")
    head = present.head(1000)
    if len(present) and head.str.fullmatch(whole).all() and present.str.fullmatch(whole).all():
        out = np.zeros(len(text), np.int64)
        out[~missing] = present.astype(np.int64).to_numpy()
        return out, missing
    return text.fillna("").reset_index(drop=True), missing  # a Series: pd.factorize is faster on it


def _parse_numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float values, the mask of missing cells and the mask of cells that are not numbers. A decimal comma
    ("4,5") is read as a decimal point."""
    if pd.api.types.is_bool_dtype(col):
        col = col.astype(float)
    if pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(np.float64, na_value=np.nan)
        return values, np.isnan(values), np.zeros(len(values), bool)
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


_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(inf|infinity|nan)"


def _parse_times(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, str | None]:
    """Seconds since the epoch (int64; 0 where unreadable), the missing and unreadable masks, and a note
    on the unit or format found. Numbers in milli-, micro- or nanoseconds are recognised by size."""
    n = len(col)
    if pd.api.types.is_datetime64_any_dtype(col):
        missing = col.isna().to_numpy()
        return _datetimes_to_seconds(col), missing, np.zeros(n, bool), None
    if not pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        sample = col.dropna().astype("str").str.strip().head(500)
        sample = sample[sample != ""]
        numeric_text = len(sample) > 0 and sample.str.fullmatch(_NUMBER, case=False).mean() > 0.9
    else:
        numeric_text = True
    values, missing, bad = _parse_numbers(col) if numeric_text else (None, None, None)
    if values is not None and (~missing).any() and bad[~missing].mean() <= 0.1:
        present = ~missing
        good = present & ~bad & np.isfinite(values)
        bad = present & ~good
        note = None
        scale = 1.0
        if good.any():
            typical = float(np.median(np.abs(values[good])))
            for limit, factor, unit in ((1e17, 1e9, "nanoseconds"), (1e14, 1e6, "microseconds"),
                                        (1e11, 1e3, "milliseconds")):
                if typical > limit:
                    scale, note = factor, f"timestamps are in {unit} since 1970; converted to seconds"
                    break
            else:
                if typical < 1e8:
                    note = "timestamps are small numbers, not dates: they only give the order of events"
        seconds = np.zeros(n, np.int64)
        seconds[good] = np.floor(values[good] / scale).astype(np.int64)
        return seconds, missing, bad, note
    text = col.astype("str").where(col.notna()).str.strip()
    missing = (text.isna() | (text == "")).to_numpy()
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    note = "timestamps are dates/times in ISO format (read as UTC)"
    if parsed[~missing].isna().mean() > 0.1:
        # other formats are parsed value by value (slow): try a sample first
        sample = text[~missing].head(500)
        if pd.to_datetime(sample, errors="coerce", format="mixed", utc=True).notna().mean() > 0.5:
            mixed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
            if mixed.notna().sum() > parsed.notna().sum():
                parsed, note = mixed, "timestamps are dates/times (format guessed; read as UTC)"
    bad = ~missing & parsed.isna().to_numpy()
    return _datetimes_to_seconds(parsed), missing, bad, note


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


def _mostly_bad_error(name: str, column: str, role: str, bad: np.ndarray, present: np.ndarray,
                      raw: pd.Series, lines: np.ndarray, word: str) -> DataError:
    where = np.flatnonzero(bad)[:3]
    shown = ", ".join(f"{word} {lines[i]}: {str(raw.iloc[i])[:30]!r}" for i in where)
    flag = "--rating-col none" if role == "rating" else "--time-col none"
    kind = "numbers" if role == "rating" else "dates or times"
    return DataError(
        f"Column {column!r} (the {ROLE_WORDS[role]}) in {name} does not hold {kind}: {int(bad.sum()):,} of "
        f"{int(present.sum()):,} values cannot be read ({shown}). Choose another column, fix the values, or "
        f"load without this column ({flag}, or 'none' in the column picker)."
    )


def interactions_from_frame(frame: pd.DataFrame, columns: Mapping[str, str | None] | None = None) -> Interactions:
    """Clean a table from :func:`read_table` into :class:`Interactions` with its :class:`DataReport`.

    Rows with a missing id, or a rating/timestamp that cannot be read, are dropped (counted, with example
    line numbers). Duplicate (user, item) pairs are combined: explicit ratings keep the latest (by
    timestamp, else the last row), implicit weights are summed (without a weight column the value becomes
    the number of rows). ``columns`` overrides the detected column of any role; ``None`` or ``"none"``
    for rating or time means "no such column".

    A rating or time column where more than half of the filled cells cannot be read (e.g. ratings written
    as words) is a :class:`DataError` rather than a silent fallback, because the user chose or named that
    column expecting it to be used; the message says how to load without it. Fewer bad cells are dropped
    with a warning. A single user or a single item is a :class:`DataError` (nothing to learn or rank).
    """
    name = str(frame.attrs.get("source", "the data"))
    mapping, guessed = _resolve_columns(frame, columns, name)
    notes = list(frame.attrs.get("notes", []))
    alerts: list[str] = []
    line_index = bool(frame.attrs.get("line_index", False))
    word = "line" if line_index else "row"
    n = len(frame)
    lines = frame.index.to_numpy(np.int64) if line_index else np.arange(n, dtype=np.int64) + 1
    reasons: dict[str, np.ndarray] = {}

    user_col, item_col = mapping["user"], mapping["item"]
    if user_col is None or item_col is None:
        raise DataError(f"{name} needs a column of user ids and a column of item ids; its columns are: "
                        f"{', '.join(map(str, frame.columns))}.")
    user_raw, missing_user = _clean_ids(frame[user_col])
    item_raw, missing_item = _clean_ids(frame[item_col])
    for role, col, missing in (("user", user_col, missing_user), ("item", item_col, missing_item)):
        if n and missing.all():
            raise DataError(
                f"Column {col!r} (the {ROLE_WORDS[role]}) is empty on every row of {name}. Choose the column "
                f"that holds {ROLE_WORDS[role]}s (--{role}-col, or the column picker)."
            )
    reasons["missing user id"] = missing_user
    reasons["missing item id"] = missing_item

    values = None
    rating_col = mapping["rating"]
    if rating_col is not None:
        values, missing, text = _parse_numbers(frame[rating_col])
        present = ~missing
        if present.any() and text.sum() > _MOSTLY_BAD * present.sum():
            raise _mostly_bad_error(name, rating_col, "rating", text, present, frame[rating_col], lines, word)
        if not present.any():
            alerts.append(f"Column {rating_col!r} is empty on every row; loaded without ratings.")
            notes.append(f"ignored the empty column {rating_col!r}")
            rating_col, mapping["rating"], values = None, None, None
        else:
            reasons["missing rating"] = missing
            reasons["rating is not a number"] = text
            reasons["rating is not finite"] = present & ~text & ~np.isfinite(values)

    stamps = None
    time_col = mapping["time"]
    if time_col is not None:
        stamps, missing, bad, unit_note = _parse_times(frame[time_col])
        present = ~missing
        if present.any() and bad.sum() > _MOSTLY_BAD * present.sum():
            raise _mostly_bad_error(name, time_col, "time", bad, present, frame[time_col], lines, word)
        if not present.any():
            alerts.append(f"Column {time_col!r} is empty on every row; loaded without timestamps.")
            notes.append(f"ignored the empty column {time_col!r}")
            time_col, mapping["time"], stamps = None, None, None
        else:
            if unit_note:
                notes.append(unit_note)
            reasons["missing timestamp"] = missing
            reasons["timestamp cannot be read"] = bad

    # each dropped row counts once, under its first reason
    dropped: dict[str, int] = {}
    examples: dict[str, list[int]] = {}
    ragged = list(frame.attrs.get("ragged_lines", []))
    if ragged:
        dropped["wrong number of fields"] = len(ragged)
        examples["wrong number of fields"] = [int(x) for x in ragged[:_EXAMPLES]]
    drop = np.zeros(n, bool)
    for reason, mask in reasons.items():
        new = mask & ~drop
        if new.any():
            dropped[reason] = int(new.sum())
            examples[reason] = _examples(lines, new)
            drop |= new
    rows_read = n + len(ragged)
    if ragged and len(ragged) > n:
        expected = frame.attrs.get("expected_fields", frame.shape[1])
        raise DataError(
            f"Most rows of {name} do not have the {expected} fields of its first line ({len(ragged):,} of "
            f"{rows_read:,}; e.g. lines {', '.join(map(str, ragged[:3]))}). Check the separator and that text "
            "containing commas is quoted."
        )
    keep = ~drop
    if not keep.any():
        top = max(dropped, key=lambda r: dropped[r])
        raise DataError(
            f"No usable rows in {name}: every row was dropped ({top}: {dropped[top]:,}, e.g. {word} "
            f"{', '.join(map(str, examples[top][:3]))}). Check the column choices: "
            + ", ".join(f"{r} = {c!r}" for r, c in mapping.items() if c) + "."
        )

    user_codes, user_ids = pd.factorize(user_raw[keep], sort=True)
    item_codes, item_ids = pd.factorize(item_raw[keep], sort=True)
    user_ids, item_ids = _id_array(user_ids), _id_array(item_ids)
    if len(user_ids) < 2:
        raise DataError(
            f"{name} has a single user ({str(user_ids[0])!r} in column {user_col!r}); recommendations need the "
            "histories of at least two users (preferably hundreds). Check the user column or add more users."
        )
    if len(item_ids) < 2:
        raise DataError(
            f"{name} has a single item ({str(item_ids[0])!r} in column {item_col!r}); there is nothing to choose "
            "between. Check the item column or add more items."
        )
    kept_values = None if values is None else values[keep]
    explicit, feedback_note = _judge_feedback(kept_values, rating_col)
    notes.append(feedback_note)
    notes.extend(guessed)
    if guessed:
        alerts.append("Check the columns: " + "; ".join(guessed) + ".")

    users = user_codes.astype(np.int32)
    items = item_codes.astype(np.int32)
    kept_stamps = None if stamps is None else stamps[keep]
    users, items, kept_values, kept_stamps, dup_rows, dup_pairs, how = _combine_duplicates(
        users, items, len(item_ids), kept_values, kept_stamps, explicit
    )
    inter = Interactions(
        users=users, items=items, user_ids=user_ids, item_ids=item_ids,
        values=None if kept_values is None else kept_values.astype(np.float32),
        timestamps=kept_stamps, explicit=explicit,
    )
    report = DataReport(
        source=name, rows_read=rows_read, dropped=dropped, dropped_examples=examples, line_word=word,
        duplicate_rows=dup_rows, duplicate_pairs=dup_pairs, duplicates_combined=how,
        columns={r: mapping[r] for r in ROLES}, detected=notes, warnings=alerts, explicit=explicit,
    )
    _fill_report(report, inter)
    return Interactions(
        users=inter.users, items=inter.items, user_ids=inter.user_ids, item_ids=inter.item_ids,
        values=inter.values, timestamps=inter.timestamps, explicit=explicit, report=report,
    )


def _id_array(uniques: Any) -> np.ndarray:
    arr = np.asarray(uniques)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return np.asarray([str(v) for v in arr], dtype=object)


def _combine_duplicates(
    users: np.ndarray, items: np.ndarray, n_items: int, values: np.ndarray | None,
    stamps: np.ndarray | None, explicit: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, int, int, str]:
    """One row per (user, item), in file order of the row kept for each pair: explicit data keeps the
    latest row (by timestamp, then file order), implicit data keeps the first row with the values summed
    (or counted) and the latest timestamp."""
    key = users.astype(np.int64) * n_items + items
    repeated = pd.Series(key).duplicated(keep=False).to_numpy()  # hashing: cheap when there are none
    if not repeated.any():
        return users, items, values, stamps, 0, 0, ""
    rows = np.flatnonzero(repeated)
    if explicit and stamps is not None:
        order = rows[np.lexsort((rows, stamps[rows], key[rows]))]
    else:
        order = rows[np.lexsort((rows, key[rows]))]
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    dup_pairs, dup_rows = len(starts), int(len(order) - len(starts))
    keep = ~repeated
    values = None if values is None else values.copy()
    stamps = None if stamps is None else stamps.copy()
    if explicit:
        keep[order[starts + sizes - 1]] = True
        how = ("kept the latest rating of each pair (by timestamp)" if stamps is not None
               else "kept the last rating of each pair in the file (no timestamps)")
    else:
        first = order[starts]  # rows sorted by (key, row): the first of each group is its first row
        keep[first] = True
        if values is None:
            values = np.ones(len(key), np.float32)
            values[first] = sizes
            how = "counted them: each pair's value is now the number of times it appears"
        else:
            values[first] = np.add.reduceat(values[order], starts)
            how = "summed their values"
        if stamps is not None:
            stamps[first] = np.maximum.reduceat(stamps[order], starts)
            how += " and kept the latest timestamp"
    return (
        users[keep], items[keep], None if values is None else values[keep],
        None if stamps is None else stamps[keep], dup_rows, dup_pairs, how,
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
        if lo_t < 0 or hi_t > now + 366 * 86400:
            report.warnings.append(
                f"Some timestamps fall before 1970 or far in the future ({_iso(lo_t)} to {_iso(hi_t)}); "
                "check the unit of the time column."
            )
    if report.dropped:
        total = report.rows_dropped
        share = total / max(1, report.rows_read)
        report.warnings.insert(0, (
            f"Dropped {total:,} of {report.rows_read:,} rows ({share:.1%}): "
            + "; ".join(f"{r} ({c:,})" for r, c in report.dropped.items())
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


def _iso(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def load_interactions(source: Any, columns: Mapping[str, str | None] | None = None) -> Interactions:
    """Read a file of interactions (path, bytes, or uploaded file object) into :class:`Interactions` with a
    :class:`DataReport` as ``.report``. ``columns`` maps roles ``user``, ``item``, ``rating``, ``time`` to
    column names (case-insensitive) and overrides detection. Raises :class:`DataError` (one line, worded
    for the user) when the file cannot be used."""
    return interactions_from_frame(read_table(source), columns)


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


def _text_id(col: pd.Series) -> pd.Series:
    """Item ids as the text :func:`lookup_ids` compares with: stripped, "12.0" written as "12"."""
    text = col.astype("str").where(col.notna()).str.strip()
    return text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


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

    ids = _text_id(frame[id_col])
    missing = (ids.isna() | (ids == "")).to_numpy()
    if missing.all():
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
    out = out[~missing]
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


def add_item_tags(catalog: Catalog, source: Any) -> Catalog:
    """The catalogue with the tags of a tag file (rows of item, tag, optionally user and time, e.g.
    MovieLens ``tags.csv``) added to each item's tags, lower-cased, most frequent first."""
    frame = read_table(source, all_text=True)
    cols = [str(c) for c in frame.columns]
    item_col = _match_role(cols, CATALOG_ID_NAMES, (), set()) or cols[0]
    tag_col = _match_role(cols, TAG_NAMES, ("tag",), {item_col})
    if tag_col is None:
        raise DataError(f"No tag column in {frame.attrs.get('source')}; its columns are: {', '.join(cols)}.")
    pairs = pd.DataFrame({"item_id": _text_id(frame[item_col]), "tag": frame[tag_col].astype("str").str.strip().str.lower()})
    pairs = pairs.dropna()
    pairs = pairs[pairs["tag"] != ""]
    counted = pairs.groupby(["item_id", "tag"]).size().reset_index(name="n")
    counted = counted.sort_values(["item_id", "n", "tag"], ascending=[True, False, True])
    extra = counted.groupby("item_id")["tag"].agg(list).to_dict()
    out = catalog.frame.copy()
    out["tags"] = [row + [t for t in extra.get(item, []) if t not in row]
                   for item, row in zip(out["item_id"], out["tags"], strict=True)]
    report = dict(catalog.report)
    report["user_tags"] = int(len(pairs))
    report["with_tags"] = int(sum(1 for row in out["tags"] if row))
    report["distinct_tags"] = len({t for row in out["tags"] for t in row})
    return Catalog(frame=out, report=report)


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


def load_demo(user_tags: bool = False) -> tuple[Interactions, Catalog]:
    """The bundled MovieLens demo (ml-latest-small): ratings and the movie catalogue (genres as tags; with
    ``user_tags`` also the users' own tags from tags.csv). The report notes the catalogue coverage."""
    inter = load_interactions(DEMO_DIR / "ratings.csv")
    catalog = load_items(DEMO_DIR / "movies.csv")
    if user_tags:
        catalog = add_item_tags(catalog, DEMO_DIR / "tags.csv")
    inter.report.add_catalog(catalog_coverage(catalog, inter))
    return inter, catalog
