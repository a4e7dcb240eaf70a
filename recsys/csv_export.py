"""Every CSV that Tastemaker writes (the dashboard's downloads, ``python -m recsys recommend``) goes
through :func:`csv_text`, so that opening it in a spreadsheet never runs a formula hidden in the data.

The rule (the usual defence against "CSV injection"): a text cell, or a column name, that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with an apostrophe in front
(``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``); spreadsheets show it as text and never evaluate it.
Numbers are never changed: a numeric column keeps ``-3.5`` as the number -3.5, and text that is exactly
a number (an id such as ``-3`` or ``+1.5e3``) is left as it is too, since a spreadsheet reads it as that
number, not as a formula. Everything else is written exactly as it is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: Any) -> Any:
    """``value`` with an apostrophe in front when it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`neutralise` applied to its column names and text cells; numeric,
    boolean and date columns are untouched."""
    out = frame.copy()
    out.columns = [neutralise(str(c)) if isinstance(c, str) else c for c in out.columns]
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            out[col] = values.map(neutralise).astype(object)
    return out


def csv_text(frame: pd.DataFrame, **options: Any) -> str:
    """``frame`` as CSV text (no index), neutralised, lines ending in CRLF as RFC 4180 has it (which also
    makes the writer quote any cell holding a carriage return); ``options`` go to ``DataFrame.to_csv``."""
    return safe_frame(frame).to_csv(index=False, **{"lineterminator": "\r\n", **options})


def csv_bytes(frame: pd.DataFrame, **options: Any) -> bytes:
    """:func:`csv_text` as UTF-8 bytes, ready for a download button."""
    return csv_text(frame, **options).encode("utf-8")


def write_csv(frame: pd.DataFrame, path: str | Path, **options: Any) -> Path:
    """Write ``frame`` to ``path`` as neutralised CSV (UTF-8); returns the path."""
    path = Path(path)
    path.write_bytes(csv_bytes(frame, **options))
    return path
