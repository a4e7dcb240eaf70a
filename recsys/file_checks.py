"""Does a file look like what it was given as? Checks run before a dataset is saved, so that a catalogue
uploaded as interactions, or a tag list uploaded as the catalogue, is caught and named instead of being
trained on for minutes or silently renaming every item.

:func:`check_interactions` reads a whole file as loaded with the chosen columns (before it is saved) and
says whether it looks like a log of interactions: one row per person and item, the same person on many rows. Signs
that it is not (each a plain sentence in :attr:`FileCheck.problems`):

* nearly every "person" has a single row (at least 90% of the rows have a person seen nowhere else);
* a person or item column counts rows (whole numbers, each on one row, nearly without gaps);
* the item column holds free text (sentences: five words or more, or 40 characters, in the median
  value), or names (most values with a space) in a file where each person has one row.

:func:`check_catalog` compares a catalogue with the data's items: fewer than half of the interacted items
have an entry, the titles are clearly not names of items (they repeat: fewer distinct titles than half
the entries; they are numbers; or they look like tags: short lower-case words such as "metal"), or it
names nothing (no titles, tags or descriptions at all).
:func:`catalog_side_by_side` shows the data's most interacted items beside the titles the catalogue
would give them, for a person to judge.

Nothing here refuses anything on its own: pages show the verdict and ask for an explicit choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.data import Catalog, Interactions

ONE_ROW_SHARE = 0.9  # share of rows whose person appears on no other row, above which it is not a log
MIN_ROWS = 20  # fewer rows than this say too little to judge
COVERED_SHARE = 0.5  # a catalogue naming fewer of the data's interacted items than this needs confirming
TEXT_WORDS, TEXT_CHARS = 5, 40  # an item column whose median value is this long holds free text
_SAMPLE = 20_000  # values looked at for text shapes


@dataclass
class FileCheck:
    """The verdict on one file. ``ok`` is False when something looks wrong; ``looks_like`` says what the
    file seems to be instead ("an item catalogue: one row per item with its name"), ``problems`` the
    signs found (one sentence each), ``advice`` what to upload instead."""

    ok: bool = True
    looks_like: str = ""
    problems: list[str] = field(default_factory=list)
    advice: str = ""

    def to_text(self) -> str:
        """The verdict in a few lines (for the command line)."""
        if self.ok:
            return "Looks right."
        lines = [f"This looks like {self.looks_like}." if self.looks_like else "Something looks wrong."]
        lines += [f"  - {problem}" for problem in self.problems]
        if self.advice:
            lines.append(self.advice)
        return "\n".join(lines)


def _text(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object)).dropna().astype(str).str.strip()


def _counts_rows(ids: np.ndarray, counts: np.ndarray) -> bool:
    """True when ``ids`` (each with its number of rows in ``counts``) are whole numbers, each on one row,
    nearly without gaps: a row number (``1, 2, 3...``) rather than the id of someone or something seen on
    several rows."""
    present = _text(ids)
    if len(present) < MIN_ROWS or (counts != 1).mean() > 1 - ONE_ROW_SHARE:
        return False
    if not present.str.fullmatch(r"[-+]?\d{1,15}").all():
        return False
    numbers = np.sort(present.astype(np.int64).to_numpy())
    return (numbers[-1] - numbers[0] + 1) <= 1.1 * len(numbers)


def _text_shape(values) -> str:
    """``"text"`` for sentences, ``"names"`` for values most of which have a space, else ``""``."""
    present = _text(values)
    if present.empty:
        return ""
    sample = present.sample(min(len(present), _SAMPLE), random_state=0) if len(present) > _SAMPLE else present
    words = sample.str.split().str.len()
    if words.median() >= TEXT_WORDS or sample.str.len().median() >= TEXT_CHARS:
        return "text"
    if (words >= 2).mean() >= 0.5 and sample.str.contains(r"[A-Za-z]").mean() >= 0.8:
        return "names"
    return ""


def check_interactions(inter: Interactions, columns: Mapping[str, str | None] | None = None, nouns=None) -> FileCheck:
    """Whether ``inter`` (a whole file loaded with the chosen ``columns``, role -> column name) looks like
    a log of interactions (see the module docstring). ``nouns`` (:class:`recsys.nouns.Nouns`) words the
    sentences ("listener", "artist"); by default "person" and "item"."""
    person = getattr(nouns, "person", "person")
    item = getattr(nouns, "item", "item")
    did = getattr(nouns, "did", "picked")
    columns = dict(columns or (inter.report.columns if inter.report is not None else {}) or {})
    user_col, item_col = columns.get("user") or "user", columns.get("item") or "item"
    check = FileCheck()
    rows = len(inter)
    if rows < MIN_ROWS:
        return check
    per_user, per_item = inter.user_counts(), inter.item_counts()
    single = int((per_user == 1).sum())
    one_row_each = single >= ONE_ROW_SHARE * rows
    if one_row_each:
        check.problems.append(
            f"Nearly every {person} appears on one row only: {single:,} of {rows:,} rows have a {user_col!r} "
            f"seen on no other row, so there is no history to learn anyone's taste from."
        )
    for noun, col, ids, counts in ((person, user_col, inter.user_ids, per_user), (item, item_col, inter.item_ids, per_item)):
        if _counts_rows(ids, counts):
            sample = ", ".join(_text(np.sort(_text(ids).astype(np.int64).to_numpy())[:3]).tolist())
            check.problems.append(
                f"The {noun} column {col!r} counts rows ({sample}, … each once): it looks like a row number, not "
                f"the id of a {noun}."
            )
    shape = _text_shape(inter.item_ids)
    top = np.argsort(-per_item, kind="stable")[:2]
    examples = "; ".join(f"“{str(inter.item_ids[i])[:40]}”" for i in top)
    if shape == "text":
        check.problems.append(f"The {item} column {item_col!r} holds free text ({examples}), not ids of {item}s.")
    elif shape == "names" and one_row_each:
        check.problems.append(f"The {item} column {item_col!r} holds names ({examples}), one per row.")
    if not check.problems:
        return check
    check.ok = False
    if one_row_each and shape:
        check.looks_like = f"an item catalogue: one row per {item}, with its name"
        check.advice = (
            f"Upload the log of who {did} what (one row per {person} and {item}, the same {person} on many rows) "
            "as the interactions file, and add this file as the item catalogue on the right."
        )
    elif one_row_each:
        check.looks_like = "a list with one row per entry (of people or of items), not a log of interactions"
        check.advice = (f"Upload a log with one row per {person} and {item}: the same {person} on many rows, "
                        f"one for each {item} they {did}.")
    else:
        check.looks_like = "something other than a log of interactions"
        check.advice = (f"Check which column is the {person} and which the {item} above; if they are right, "
                        "this file may not be the interactions.")
    return check


# -- catalogues ----------------------------------------------------------------------------------------
def _titles_problem(titles: pd.Series, ids: pd.Series, item: str) -> str | None:
    """Why these titles are clearly not names of items, or None."""
    named = titles[(titles != "") & (titles != ids)]
    if len(named) < MIN_ROWS:
        return None
    examples = ", ".join(f"“{t}”" for t in named.drop_duplicates().head(3).tolist())
    distinct = named.nunique()
    if distinct < 0.5 * len(named):
        return (f"Its titles repeat: {distinct:,} different titles for {len(named):,} {item}s ({examples}), so "
                f"they are not names of {item}s.")
    if named.str.fullmatch(r"[-+]?[\d.,]+").mean() >= 0.8:
        return f"Its titles are numbers ({examples}), not names of {item}s."
    lower = named.str.fullmatch(r"[^A-Z]*[a-z][^A-Z]*")
    short = named.str.split().str.len() <= 2
    if (lower & short).mean() >= 0.8:
        return (f"Its titles look like tags or labels ({examples}): short lower-case words rather than names "
                f"of {item}s.")
    return None


def check_catalog(catalog: Catalog, inter: Interactions, nouns=None) -> FileCheck:
    """Whether ``catalog`` describes the items of ``inter``: at least half of the interacted items have an
    entry, and the titles look like names (see the module docstring)."""
    item = getattr(nouns, "item", "item")
    frame = catalog.frame
    check = FileCheck()
    ids = frame["item_id"].astype(str)
    known = set(ids.tolist())
    counts = inter.item_counts()
    interacted = [str(i) for i, n in zip(inter.item_ids, counts, strict=True) if n > 0]
    covered = sum(1 for i in interacted if i in known)
    if interacted and covered < COVERED_SHARE * len(interacted):
        check.problems.append(
            f"Only {covered:,} of the {len(interacted):,} {item}s in the data ({covered / len(interacted):.0%}) have "
            "an entry in it: its ids may be ids of something else (tags, people), or of other data."
        )
    titles = frame["title"].fillna("").astype(str).str.strip()
    problem = _titles_problem(titles, ids, item)
    if problem:
        check.problems.append(problem)
    described = (titles != ids) & (titles != "")
    described |= frame["tags"].map(len).gt(0) | frame["description"].fillna("").astype(str).str.strip().ne("")
    if len(frame) and not described.any():
        check.problems.append(
            f"It names nothing: no column of titles, genres, tags or descriptions was found, only ids, so it would "
            f"not tell anyone what the {item}s are."
        )
    if check.problems:
        check.ok = False
        check.looks_like = f"a list of something other than these {item}s"
        check.advice = (f"Compare the titles with the data below. The catalogue should have one row per {item}, "
                        f"with the same ids as the data's {item} column and a column of their names.")
    return check


def catalog_side_by_side(catalog: Catalog, inter: Interactions, n: int = 8) -> pd.DataFrame:
    """The ``n`` most interacted items of the data beside what the catalogue says of them: columns
    ``item_id``, ``interactions`` (in the data), ``title`` (in the catalogue, "" when it has no entry)
    and ``genres`` (its tags, joined)."""
    counts = inter.item_counts()
    order = np.argsort(-counts, kind="stable")[: int(n)]
    ids = [str(inter.item_ids[i]) for i in order]
    frame = catalog.frame.assign(item_id=catalog.frame["item_id"].astype(str)).drop_duplicates("item_id")
    by_id = frame.set_index("item_id")
    titles = by_id["title"].reindex(ids).fillna("").astype(str)
    tags = by_id["tags"].reindex(ids)
    return pd.DataFrame({
        "item_id": ids,
        "interactions": counts[order].astype(np.int64),
        "title": titles.to_numpy(),
        "genres": [", ".join(map(str, t)) if isinstance(t, list | np.ndarray) else "" for t in tags],
    })
