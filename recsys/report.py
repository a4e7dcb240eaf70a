"""The stakeholder report: one self-contained HTML file per dataset (or per chosen runs) that a team can
send after a meeting, readable offline in any browser.

What the file holds, in order: 1 the data in plain language with its profile charts; 2 the leaderboard
against Popularity with 95% intervals, "real difference or luck" in words and the protocol in one
sentence; 3 each run's training curve; 4 three example people (light, typical, heavy) with their history
and two models' picks side by side, "because you liked"; 5 "more like this" for the five most popular
items and five from the long tail; 6 exposure of items and, when the catalogue names them, creators
(:mod:`recsys.exposure`); 7 methods: split, metrics, settings in plain words, versions and dates.

Self-contained: Plotly's JavaScript is embedded once (``plotly.offline.get_plotlyjs``), every chart is a
``<div>`` drawn by it, the logo is inline SVG, fonts are the reader's own: the file asks no server for
anything. It never holds the data file itself. People are shown under stable pseudonyms by default
("Person 7KQ2MX"): a keyed hash (HMAC-SHA256) of their id with a secret the store keeps
(:meth:`recsys.store.Store.report_key`), so the same person gets the same pseudonym in every report from
this store and nobody without the key can link it back; ``keep_ids=True`` shows the real ids.

:func:`print_pdf` prints the same HTML to PDF with headless Chromium when the machine has it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import math
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys import exposure as ex
from recsys import figures
from recsys import popularity_bands as bands
from recsys.chart_style import PLOTLY_CONFIG
from recsys.data import Catalog, DataError, DataReport, Interactions, lookup_ids

SECTIONS: tuple[tuple[str, str], ...] = (
    ("data", "1. The data"),
    ("leaderboard", "2. Which model recommends best"),
    ("training", "3. How each model trained"),
    ("people", "4. Three example people"),
    ("similar", "5. More like this"),
    ("exposure", "6. Who gets exposure"),
    ("methods", "7. Methods"),
)
SHOWN_METRICS = ("ndcg", "hit_rate", "recall", "precision", "coverage", "novelty")
EXAMPLE_PEOPLE = (("light", 0.10), ("typical", 0.50), ("heavy", 0.90))
HISTORY_ROWS = 8
PICKS = 10
SIMILAR = 5
CHROMIUM = Path("/usr/bin/chromium")
LOGO = Path(__file__).resolve().parents[1] / "assets" / "logo.svg"


@dataclass
class Report:
    """A built report: ``html`` (the whole file), the runs it shows (``run_ids``, the Popularity
    reference included), the three ``people`` (``kind``, ``user_id`` (raw), ``shown`` (the name in the
    report)), ``charts`` (how many Plotly charts), and ``seconds`` it took to build."""

    html: str
    dataset_id: int
    run_ids: list[int]
    people: list[dict[str, Any]] = field(default_factory=list)
    charts: int = 0
    seconds: float = 0.0

    @property
    def size(self) -> int:
        """Bytes of the file (UTF-8)."""
        return len(self.html.encode("utf-8"))


# -- pseudonyms ----------------------------------------------------------------------------------------
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud without mistakes


def pseudonym(user_id: Any, key: bytes) -> str:
    """A stable pseudonym for a person: "Person " and six characters of the HMAC-SHA256 of their id
    (as text) under ``key``."""
    digest = hmac.new(key, str(user_id).encode("utf-8"), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _ in range(6):
        number, rest = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[rest])
    return "Person " + "".join(chars)


# -- choosing runs and people ------------------------------------------------------------------------
def _board():
    """The module holding the leaderboard's statistics."""
    from recsys import leaderboard

    return leaderboard


def choose_runs(store, dataset_id: int, run_ids: Sequence[int] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The finished runs a report shows, best first by NDCG, all tested on one split, with that split's
    Popularity run added as the reference; and notes on runs left out. ``run_ids``: the runs asked for
    (each must be a finished run of the dataset); None: every finished run on the split most runs share."""
    board = _board()
    done = board.finished_runs(store.list_runs(int(dataset_id)))
    notes: list[str] = []
    if done.empty:
        raise DataError(f"Dataset {dataset_id} has no finished runs yet: train a model first "
                        f"(`python -m recsys submit FILE --model ease`, then `python -m recsys worker --once`).")
    if run_ids:
        wanted = [int(r) for r in run_ids]
        missing = [r for r in wanted if r not in set(done["id"].astype(int))]
        if missing:
            raise DataError(f"Run {', '.join(map(str, missing))} is not a finished run of dataset {dataset_id}; "
                            f"its finished runs are {', '.join(map(str, sorted(done['id'].astype(int))))}.")
        chosen = done[done["id"].astype(int).isin(wanted)]
        splits = chosen.groupby(["protocol", "seed"], sort=False).size().sort_values(ascending=False)
        protocol, seed = splits.index[0]
        other = chosen[(chosen["protocol"] != protocol) | (chosen["seed"] != seed)]
        if len(other):
            notes.append(f"Run {', '.join(map(str, other['id']))} was tested on another split and cannot be "
                         "compared with the others: left out.")
        chosen = chosen[(chosen["protocol"] == protocol) & (chosen["seed"] == seed)]
    else:
        first = board.split_choices(done).iloc[0]
        protocol, seed = first["protocol"], int(first["seed"])
        chosen = done[(done["protocol"] == protocol) & (done["seed"].astype(int) == seed)]
    same = board.leaderboard_runs(done, protocol, int(seed))
    baseline = board.baseline_run_id(same)
    ids = set(chosen["id"].astype(int)) | ({baseline} if baseline is not None else set())
    out = same[same["id"].astype(int).isin(ids)]
    best = board.best_run(out)  # the run every page opens on
    order = out.assign(_best=out["id"].astype(int) == best,
                       _n=pd.to_numeric(out.get("ndcg"), errors="coerce").fillna(-np.inf))
    order = order.sort_values(["_best", "_n", "id"], ascending=[False, False, False])
    return order.drop(columns=["_best", "_n"]).reset_index(drop=True), notes


def example_people(inter: Interactions, candidates: np.ndarray | None = None) -> list[tuple[str, int]]:
    """Three people who differ: (kind, user number) for the person nearest the 10th, 50th and 90th
    percentile of interactions per person (light, typical, heavy; ties: lower number), among
    ``candidates`` (user numbers; default everyone with interactions). Each person appears once."""
    counts = inter.user_counts()
    pool = np.flatnonzero(counts > 0) if candidates is None else np.asarray(candidates)
    pool = pool[np.lexsort((pool, counts[pool]))]
    chosen: list[tuple[str, int]] = []
    taken: set[int] = set()
    for kind, q in EXAMPLE_PEOPLE:
        target = np.quantile(counts[pool], q)
        distance = np.abs(counts[pool].astype(np.float64) - target)
        for idx in np.lexsort((pool, distance)):
            user = int(pool[idx])
            if user not in taken:
                chosen.append((kind, user))
                taken.add(user)
                break
    return chosen


def example_items(inter: Interactions, n: int = SIMILAR) -> tuple[np.ndarray, np.ndarray]:
    """(the ``n`` most popular items, ``n`` items from the long tail): tail items spread evenly over the
    tail's ranks, among those with at least three interactions when there are enough (fewer and
    "similar" means little)."""
    counts = inter.item_counts()
    ranked = bands.ranked_items(counts)
    head = ranked[: bands.band_size(len(ranked), bands.HEAD_PERCENT)]
    tail = ranked[len(head):]
    for floor in (3, 2, 1):
        pool = tail[counts[tail] >= floor]
        if len(pool) >= n:
            break
    picks = np.unique(np.linspace(0, len(pool) - 1, num=min(n, len(pool))).round().astype(int)) if len(pool) else []
    return ranked[:n], pool[picks] if len(pool) else np.array([], dtype=np.int64)


# -- HTML pieces ---------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(frame: pd.DataFrame, classes: str = "", numeric: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for col, value in zip(frame.columns, values, strict=True):
            cls = ' class="num"' if col in numeric else ""
            cells.append(f"<td{cls}>{_e('' if value is None or (isinstance(value, float) and math.isnan(value)) else value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="{classes}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _pct(value: float, digits: int = 0) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value * 100:.{digits}f}%"


def _num(value: float, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _when(stamp: float | None) -> str:
    if stamp is None or not np.isfinite(stamp):
        return "–"
    return datetime.fromtimestamp(float(stamp), tz=timezone.utc).strftime("%d %b %Y, %H:%M UTC")


class _Charts:
    """Turns figures into ``<div>``s for a page that holds Plotly's JavaScript once."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig, caption: str = "") -> str:
        self.count += 1
        fig.update_layout(width=None, autosize=True)
        div = fig.to_html(include_plotlyjs=False, full_html=False, config=dict(PLOTLY_CONFIG, responsive=True),
                          div_id=f"chart-{self.count}", default_height=f"{fig.layout.height or 360}px",
                          default_width="100%")
        note = f'<p class="caption">{_e(caption)}</p>' if caption else ""
        return f'<figure class="chart">{div}{note}</figure>'


# -- the sections --------------------------------------------------------------------------------------
def _data_section(store, dataset: dict[str, Any], inter: Interactions, chart: _Charts) -> str:
    from recsys.profile import profile_frames

    report = DataReport.from_dict(dataset.get("report") or {})
    lines = report.to_text().splitlines()
    facts = []
    for line in lines[1:]:
        if line.startswith(("Suggested", "How the file", "Warnings", "  - ")):
            break
        facts.append(line)
    items = "".join(_fact(line) for line in facts)
    warnings = "".join(f'<p class="warning">{_e(w)}</p>' for w in report.warnings)
    profile = profile_frames(inter)
    medians = profile["medians"]
    parts = [
        f'<p class="lead">{_e(lines[0]) if lines else ""}</p>',
        f'<ul class="facts">{items}</ul>', warnings,
        '<div class="grid2">',
        chart(figures.count_bars(profile["users"], "How active are people?", "Interactions per person (grouped)",
                                 "People (log scale)", figures.PALETTE[1]),
              f"Half of the people have at most {medians['per_user']:,.0f} interactions."),
        chart(figures.count_bars(profile["items"], "How popular are items? (the long tail)",
                                 "Interactions per item (grouped)", "Items (log scale)"),
              f"The popular items (the top {bands.HEAD_PERCENT}% by interactions) receive "
              f"{_pct(profile['head_share'])} of all interactions; half of the items have at most "
              f"{medians['per_item']:,.0f}."),
    ]
    if profile["values"] is not None:
        parts.append(chart(figures.value_bars(profile["values"], profile["value_kind"] == "rating")))
    if profile["time"] is not None:
        parts.append(chart(figures.timeline(profile["time"], profile["time_period"])))
    parts.append("</div>")
    return "".join(parts)


def _fact(line: str) -> str:
    label, sep, rest = line.partition(": ")
    if sep and len(label) < 25:
        return f"<li><strong>{_e(label)}:</strong> {_e(rest)}</li>"
    return f"<li>{_e(line)}</li>"


def _verdict(row: pd.Series, baseline_label: str) -> str:
    """'Real difference or luck' in words for one run against Popularity on one metric."""
    name = str(row["label"]).split(" · ")[0]
    badge = str(row.get("vs_baseline_badge") or "")
    p = row.get("vs_baseline_p")
    p_text = "" if p is None or not np.isfinite(p) else (" (p < 0.001)" if p < 0.001 else f" (p = {p:.3f})")
    value, base = row["value"], row["baseline"]
    if badge.startswith("▲") or badge.startswith("▼"):
        word = "better" if badge.startswith("▲") else "worse"
        return (f"<strong>{_e(name)}</strong> is {word} than {_e(baseline_label)}: {value:.3f} against {base:.3f}. "
                f"A paired test over the same people says this is a real difference, not luck{p_text}.")
    if badge.startswith("≈"):
        return (f"<strong>{_e(name)}</strong> scores {value:.3f} against {base:.3f} for {_e(baseline_label)}, but the "
                f"difference could be luck{p_text}: on other people the order might flip.")
    return f"<strong>{_e(name)}</strong> scores {value:.3f}."


def _protocol_sentence(evaluation, protocol: str) -> str:
    from recsys.split import PROTOCOL_DESCRIPTIONS

    report = evaluation.split_report or {}
    users = evaluation.n_users
    threshold = evaluation.relevance_threshold
    relevant = ("every held-out interaction counts as a right answer" if threshold is None
                else f"a held-out rating of {threshold:g} or more counts as a right answer")
    sizes = ""
    if report.get("fit_train_rows") is not None and report.get("validation_rows") is not None:
        sizes = (f" ({report['fit_train_rows']:,} interactions to learn from, {report['validation_rows']:,} set aside "
                 f"to check training as it goes, {report.get('test_rows', 0):,} held out for the test)")
    elif report.get("train_rows") is not None and report.get("test_rows") is not None:
        sizes = f" ({report['train_rows']:,} interactions to learn from, {report['test_rows']:,} held out)"
    described = PROTOCOL_DESCRIPTIONS.get(protocol, protocol).rstrip(".")
    return (f"How they were tested: {described}{sizes}. Every model was "
            f"scored once on the same {users:,} people's held-out items, with top-{evaluation.k} lists; {relevant}. "
            "The recommendations shown in this report come from each model trained again, with the same settings, "
            "on everything.")


def _leaderboard_section(runs: pd.DataFrame, evaluations: dict[int, Any], chart: _Charts) -> tuple[str, pd.DataFrame]:
    board_module = _board()
    best = int(runs["id"].iloc[0])
    board = board_module.leaderboard(runs, evaluations, metrics=["ndcg"])  # paired tests on the ranking metric
    if board.empty:
        return "<p>These runs have no stored scores.</p>", board
    k = int(board["k"].iloc[0])
    first = runs.iloc[0]
    baseline = board_module.baseline_run_id(runs)
    baseline_label = "Popularity"
    rows = []
    for run_id in runs["id"].astype(int):
        part = board[board["run_id"] == run_id].set_index("metric")
        evaluation = evaluations.get(run_id)
        if part.empty or evaluation is None:
            continue
        row = {"Model": str(part["label"].iloc[0]).split(" · ")[0] + ("" if run_id != baseline else " (reference)")}
        for metric in SHOWN_METRICS:
            if metric not in evaluation.summary:
                continue
            value = float(evaluation.summary[metric])
            low, high = (float(v) if v is not None else math.nan for v in evaluation.ci.get(metric, (None, None)))
            short = board_module.metric_title(metric, k, short=True)
            digits = 2 if metric == "novelty" else 3
            row[short] = (f"{value:.{digits}f}" if not np.isfinite(low) else
                          f"{value:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})")
        row["vs Popularity (NDCG)"] = part.loc["ndcg", "vs_baseline_badge"] if "ndcg" in part.index else ""
        rows.append(row)
    table = pd.DataFrame(rows)
    ndcg = board_module.metric_comparison(board, "ndcg")
    verdicts = [
        f"<li>{_verdict(row, baseline_label)}</li>"
        for _, row in board[(board["metric"] == "ndcg") & (~board["is_baseline"])].iterrows()
    ]
    title = board_module.metric_title("ndcg", k)
    headline = (f"<p class=\"lead\">Best: <strong>{_e(str(first['label']).split(' · ')[0])}</strong>, by ranking quality "
                f"(NDCG@{k}), the measure every model here is ranked on.</p>")
    body = [
        headline,
        f'<p class="protocol">{_e(_protocol_sentence(evaluations[best], str(first["protocol"])))}</p>',
        _table(table, "board", numeric=[c for c in table.columns if c not in ("Model", "vs Popularity (NDCG)")]),
        '<p class="caption">Each score with its 95% range in brackets: where the average would likely land if '
        "we tested on other people. ▲ / ▼: a paired test over the same people says the difference from Popularity "
        "is real (p &lt; 0.05); ≈: it could be luck.</p>",
        chart(figures.metric_bars(ndcg, f"{title}, with 95% ranges", board_module.metric_title("ndcg", k, short=True))),
        f'<ul class="verdicts">{"".join(verdicts)}</ul>' if verdicts else
        "<p>Only Popularity has finished: there is nothing to compare it with yet.</p>",
    ]
    return "".join(body), board


def _training_section(store, runs: pd.DataFrame, chart: _Charts) -> str:
    board = _board()
    parts = []
    for run in runs.itertuples(index=False):
        name = f"{board.model_title(run.model)} · run #{run.id}"
        epochs = store.epochs(int(run.id))
        seconds = float(run.duration_seconds) if run.duration_seconds is not None else math.nan
        took = f"{seconds:,.1f} s" if np.isfinite(seconds) else "an unknown time"
        if len(epochs):
            parts.append(chart(figures.training_curve(epochs, name),
                               f"{len(epochs)} epochs, {took} in all (training, testing and saving)."))
        else:
            parts.append(f'<div class="onestep"><strong>{_e(name)}</strong>: learned in one step (no epochs), '
                         f"{took} in all.</div>")
    note = ("<p>Iterative models learn in passes over the data (epochs): the loss should fall, and the "
            "validation score, measured on a part of the training data set aside for it, should rise and "
            "then level off. Closed-form and counting models learn in one step.</p>")
    return note + '<div class="grid2">' + "".join(parts) + "</div>"


def _because(model, user_id: Any, item: int, titles: pd.Series, n: int = 2) -> str:
    """"Because you liked A, B": the history items that weighed most in the pick (``model.explain``)."""
    from recsys.models.base import ModelError

    user = int(lookup_ids(model.user_ids_, [user_id])[0])
    if user < 0:
        return ""
    try:
        reasons = model.explain(user, int(item), n=n)
    except (ModelError, NotImplementedError, ValueError, IndexError):
        return ""
    liked = [str(titles.iloc[i]) for i, weight in reasons if weight > 0]
    if not liked:
        return {"popularity": "Popular with everyone", "random": "Picked at random"}.get(model.name, "")
    return "Because you liked " + ", ".join(liked)


def _person_block(kind: str, shown: str, user_id: Any, inter: Interactions, catalog: Catalog | None,
                  labels: pd.DataFrame, lists: list[tuple[str, pd.DataFrame, Any]]) -> str:
    from recsys.explore import user_history

    count = int(inter.user_counts()[int(inter.user_index([user_id])[0])])
    history = user_history(inter, user_id, catalog, limit=HISTORY_ROWS)
    rows = []
    for item in history.itertuples(index=False):
        extra = []
        if np.isfinite(item.rating):
            extra.append(f"{item.rating:g}" + (" ★" if inter.explicit else ""))
        if not pd.isna(item.when):
            extra.append(item.when.strftime("%b %Y"))
        genres = f' <span class="muted">{_e(item.genres)}</span>' if item.genres else ""
        rows.append(f"<li>{_e(item.title)}{genres}{' · ' + _e(', '.join(extra)) if extra else ''}</li>")
    order = "most recent first" if inter.timestamps is not None else ("highest rated first" if inter.values is not None
                                                                      else "")
    columns = []
    for label, stored, model in lists:
        mine = stored[stored["user"].astype(str) == str(user_id)].sort_values("rank").head(PICKS)
        items = inter.item_index(mine["item"].to_numpy())
        items = items[items >= 0]
        if not len(items):
            columns.append(f'<div class="picks"><h4>{_e(label)}</h4><p>No recommendations stored for this person.</p></div>')
            continue
        lines = []
        for item in items:
            because = _because(model, user_id, int(item), labels["title"])
            lines.append(f"<li><span class=\"title\">{_e(labels['title'].iloc[int(item)])}</span>"
                         + (f'<span class="because">{_e(because)}</span>' if because else "") + "</li>")
        columns.append(f'<div class="picks"><h4>{_e(label)}</h4><ol>{"".join(lines)}</ol></div>')
    return (f'<article class="person"><h3>{_e(shown)} <span class="kind">{_e(kind)}: {count:,} interactions</span></h3>'
            f'<div class="person-grid"><div class="history"><h4>What they had ({_e(order) or "a sample"})</h4>'
            f'<ul>{"".join(rows)}</ul></div>{"".join(columns)}</div></article>')


class _Models:
    """Each run's model, loaded once (``load``: a loader to use instead of the store's, e.g. a cached one)."""

    def __init__(self, store, load=None) -> None:
        self.load = load or store.load_run_model
        self.loaded: dict[int, Any] = {}

    def __call__(self, run_id: int):
        if int(run_id) not in self.loaded:
            self.loaded[int(run_id)] = self.load(int(run_id))
        return self.loaded[int(run_id)]


def _people_section(store, models_of: _Models, runs: pd.DataFrame, inter: Interactions, catalog: Catalog | None,
                    labels: pd.DataFrame, keep_ids: bool, key: bytes) -> tuple[str, list[dict[str, Any]]]:
    board = _board()
    personal = runs[~runs["model"].isin(["popularity", "random"])]
    picks = list(personal["id"].astype(int)[:2])
    if len(picks) < 2:
        rest = [int(r) for r in runs["id"] if int(r) not in picks]
        picks += rest[: 2 - len(picks)]
    lists = []
    for run_id in picks:
        run = runs[runs["id"].astype(int) == run_id].iloc[0]
        lists.append((f"{board.model_title(run['model'])} · run #{run_id}", store.run_recommendations(run_id),
                      models_of(run_id)))
    people = []
    blocks = []
    for kind, user in example_people(inter):
        user_id = inter.user_ids[user]
        shown = f"Person {user_id}" if keep_ids else pseudonym(user_id, key)
        people.append({"kind": kind, "user_id": user_id, "shown": shown})
        blocks.append(_person_block(kind, shown, user_id, inter, catalog, labels, lists))
    names = " and ".join(label.split(" · ")[0] for label, _, _ in lists)
    intro = (f"<p>Three people chosen to differ: one with few interactions (light), one in the middle (typical) "
             f"and one with many (heavy). On the left what they had, then the top {PICKS} of {_e(names)} (the lists "
             f"each model gives them, never an item they already have). \"Because you liked\" names the items of "
             f"their history that weighed most in each pick.</p>")
    privacy = ("<p class=\"caption\">People are shown under pseudonyms: the same person has the same pseudonym in "
               "every report from this workspace, and the pseudonym cannot be turned back into their id.</p>"
               if not keep_ids else "<p class=\"caption\">People are shown under their ids in the data.</p>")
    return intro + "".join(blocks) + privacy, people


def _similar_section(models_of: _Models, runs: pd.DataFrame, inter: Interactions, labels: pd.DataFrame) -> str:
    from recsys.explore import supports_item_similarity
    from recsys.models.base import ModelError

    board = _board()
    model, label = None, ""
    for run in runs.itertuples(index=False):
        candidate = models_of(int(run.id))
        if supports_item_similarity(candidate):
            model, label = candidate, f"{board.model_title(run.model)} · run #{run.id}"
            break
    if model is None:
        return "<p>None of these models can say how alike two items are (Popularity and Random cannot).</p>"
    popular, tail = example_items(inter)
    counts = inter.item_counts()

    def cards(items: np.ndarray) -> str:
        out = []
        for item in items:
            try:  # recsys.explore.more_like_this, with the labels made once
                found, sims = model.similar_items(int(item), k=SIMILAR)
            except (ModelError, NotImplementedError, ValueError) as exc:
                out.append(f'<div class="card"><h4>{_e(labels["title"].iloc[int(item)])}</h4><p>{_e(exc)}</p></div>')
                continue
            rows = "".join(f"<li>{_e(labels['title'].iloc[int(i)])} <span class=\"sim\">{float(v):.2f}</span></li>"
                           for i, v in zip(found, sims, strict=True))
            out.append(f'<div class="card"><h4>{_e(labels["title"].iloc[int(item)])}</h4>'
                       f'<p class="muted">{int(counts[int(item)]):,} interactions</p><ol>{rows}</ol></div>')
        return '<div class="cards">' + "".join(out) + "</div>"

    return (f"<p>The items {_e(label.split(' · ')[0])} finds most alike, with its similarity on a scale where an item "
            "with itself is 1 and unrelated items are near 0.</p>"
            f"<h3>The five most popular items</h3>{cards(popular)}"
            f"<h3>Five from the long tail</h3><p class=\"caption\">{_e(bands.definition().capitalize())}; these are "
            f"spread over the tail's ranks.</p>{cards(tail)}")


def _exposure_section(store, dataset_id: int, runs: pd.DataFrame, inter: Interactions, catalog: Catalog | None,
                      chart: _Charts) -> str:
    board = _board()
    pairs = [(int(r.id), f"{board.model_title(r.model)} · run #{r.id}") for r in runs.itertuples(index=False)]
    table = ex.exposure_table(store, dataset_id, pairs, data=(inter, catalog))
    noun = ex.creator_noun(catalog)
    k = int(table["k"].dropna().iloc[0]) if table["k"].notna().any() else 10
    shown = ex.exposure_display(table, noun)
    has_creators = bool(table["top_creators_data_share"].notna().any())
    sentences = "".join(f"<li>{_e(s)}</li>" for s in ex.exposure_sentences(table, noun))
    parts = [
        f"<p>Who do the recommendations give a chance? Each person's top {k} is {k} <em>slots</em>; here is where "
        f"the slots of every person's list go. {_e(bands.definition().capitalize())}. Popularity and the data itself "
        "(every interaction counted as a slot) are the references.</p>",
        _table(shown, "board", numeric=[c for c in shown.columns if c != "Model"]),
        f'<ul class="verdicts">{sentences}</ul>',
        '<div class="grid2">' if has_creators else "", chart(figures.exposure_items(table)),
    ]
    if has_creators:
        biggest = table["top_creators"].dropna()
        names = ", ".join(biggest.iloc[-1]) if len(biggest) else ""
        parts.append(chart(figures.exposure_creators(table, noun),
                           f"The ten biggest {noun} by interactions: {names}."))
        parts.append("</div>")
    else:
        parts.append('<p class="caption">The catalogue does not say who made each item (no artist, author, studio, '
                     "publisher or brand column), so exposure by creator is not shown.</p>")
    parts.append(f'<p class="caption">Gini of exposure: 0 when every item of the catalogue is shown equally often, '
                 f"near 1 when a few items get every slot. Catalogue shown: the share of the {int(table['n_items'].iloc[0]):,} "
                 "items that appear in at least one list.</p>")
    return "".join(parts)


def _setting_words(model: str, params: dict[str, Any]) -> str:
    from recsys.models import MODELS

    cls = MODELS.get(model)
    if cls is None:
        return ", ".join(f"{k} = {v}" for k, v in params.items()) or "defaults"
    words = []
    for setting in cls.settings:
        value = params.get(setting.name, setting.default)
        if setting.name == "device":
            continue
        if value is None:
            text = setting.none_means or "none"
        elif setting.kind == "bool":
            text = "yes" if value else "no"
        elif setting.kind == "choice" and setting.choice_labels:
            text = dict(zip(setting.choices, setting.choice_labels, strict=False)).get(value, str(value))
        else:
            text = f"{value:g}" if isinstance(value, float) else str(value)
        words.append(f"{setting.label}: {text}")
    return "; ".join(words) or "nothing to set"


def _methods_section(store, dataset: dict[str, Any], runs: pd.DataFrame, evaluations: dict[int, Any], now: float) -> str:
    import plotly
    import scipy
    import torch

    import recsys

    board = _board()
    best = evaluations[int(runs["id"].iloc[0])]
    protocol = str(runs["protocol"].iloc[0])
    k = int(best.k)
    notes = "".join(f"<li>{_e(n)}</li>" for n in (best.split_report or {}).get("notes", []))
    metrics = "".join(f"<li>{_e(board.metric_help(m, k))}</li>" for m in SHOWN_METRICS if m in board.METRICS)
    settings = "".join(
        f"<li><strong>{_e(board.model_title(r.model))} · run #{r.id}</strong>: {_e(_setting_words(r.model, r.params or {}))}"
        f" <span class=\"muted\">(trained on {_e(str(r.device or 'cpu').upper())}, finished {_when(r.finished_at)})</span></li>"
        for r in runs.itertuples(index=False)
    )
    versions = (f"Tastemaker {recsys.__version__}, Python {platform.python_version()}, PyTorch {torch.__version__}, "
                f"NumPy {np.__version__}, pandas {pd.__version__}, SciPy {scipy.__version__}, Plotly {plotly.__version__}")
    return (
        f"<h3>Split</h3><p>{_e(_protocol_sentence(best, protocol))} Split seed {int(runs['seed'].iloc[0])}.</p>"
        f"<ul>{notes}</ul>"
        f"<h3>Measures</h3><ul>{metrics}</ul>"
        f"<h3>Popular and long tail</h3><p>{_e(bands.definition().capitalize())} (ties go to the item listed "
        f"first); the biggest hits are the top {bands.HITS_PERCENT}%, counted the same way.</p>"
        f"<h3>Model settings</h3><ul>{settings}</ul>"
        f"<h3>Versions and dates</h3><ul><li>{_e(versions)}</li>"
        f"<li>Data added {_when(dataset.get('created_at'))}; report made {_when(now)} on {_e(platform.system())}.</li></ul>"
    )


# -- the whole file --------------------------------------------------------------------------------------
_CSS = """
:root { --accent: #E4572E; --ink: #1E2230; --muted: #7A8290; --grid: #ECE7E1; --paper: #FFFFFF; --soft: #FAF7F4; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--soft); color: var(--ink);
  font: 15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Helvetica, Arial, sans-serif; }
header.top { background: var(--paper); border-bottom: 3px solid var(--accent); padding: 24px 40px 16px; }
header.top .brand { display: flex; align-items: center; gap: 12px; }
header.top .brand img { height: 34px; }
header.top h1 { margin: 10px 0 4px; font-size: 28px; }
header.top p { margin: 0; color: var(--muted); }
nav.toc { padding: 8px 40px; background: var(--paper); border-bottom: 1px solid var(--grid); font-size: 14px; }
nav.toc a { color: var(--ink); margin-right: 16px; text-decoration: none; white-space: nowrap; }
nav.toc a:hover { color: var(--accent); }
main { max-width: 1180px; margin: 0 auto; padding: 16px 40px 48px; }
section.report-section { background: var(--paper); border: 1px solid var(--grid); border-radius: 8px;
  padding: 20px 28px; margin: 20px 0; break-inside: auto; }
section.report-section > h2 { margin-top: 0; font-size: 22px; border-bottom: 1px solid var(--grid); padding-bottom: 6px; }
h3 { font-size: 17px; margin: 18px 0 8px; } h4 { margin: 0 0 6px; font-size: 14px; }
p.lead { font-size: 17px; } p.caption, .muted { color: var(--muted); font-size: 13px; }
p.warning { background: #FFF4EC; border-left: 3px solid var(--accent); padding: 6px 10px; }
ul.facts li { margin: 2px 0; } ul.verdicts li { margin: 6px 0; }
p.protocol { background: var(--soft); padding: 8px 12px; border-radius: 6px; }
table.board { border-collapse: collapse; width: 100%; font-size: 13.5px; margin: 8px 0; }
table.board th, table.board td { border-bottom: 1px solid var(--grid); padding: 6px 8px; text-align: left; }
table.board th { background: var(--soft); font-weight: 600; } td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 12px 24px; }
figure.chart { margin: 8px 0; min-width: 0; } figure.chart p.caption { margin: 2px 4px; }
.onestep { padding: 10px 12px; background: var(--soft); border-radius: 6px; align-self: start; }
article.person { border-top: 1px solid var(--grid); padding-top: 10px; margin-top: 14px; break-inside: avoid; }
article.person h3 .kind { color: var(--muted); font-weight: normal; font-size: 14px; margin-left: 8px; }
.person-grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 18px; font-size: 13.5px; }
.person-grid ul, .person-grid ol { margin: 0; padding-left: 20px; } .person-grid li { margin: 3px 0; }
.picks .because { display: block; color: var(--muted); font-size: 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 12px; font-size: 13px; }
.card { border: 1px solid var(--grid); border-radius: 6px; padding: 10px 12px; break-inside: avoid; }
.card ol { margin: 4px 0 0; padding-left: 18px; } .sim { color: var(--muted); font-variant-numeric: tabular-nums; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 12px; }
@media print { body { background: white; } nav.toc { display: none; } main { padding: 0 12px; max-width: none; }
  section.report-section { border: none; padding: 8px 0; } .grid2 { grid-template-columns: 1fr 1fr; }
  .person-grid { grid-template-columns: 1fr 1fr 1fr; } }
"""


# Charts are drawn for the screen's width; a printed page is narrower, so they are redrawn for it.
_RESIZE_FOR_PRINT = (
    "window.addEventListener('beforeprint', function () {"
    " document.querySelectorAll('.js-plotly-plot').forEach(function (el) { Plotly.Plots.resize(el); }); });"
)


def _logo() -> str:
    try:
        data = base64.b64encode(LOGO.read_bytes()).decode("ascii")
    except OSError:
        return ""
    return f'<img alt="Tastemaker" src="data:image/svg+xml;base64,{data}">'


def build_report(
    store, dataset_id: int, run_ids: Sequence[int] | None = None, keep_ids: bool = False, now: float | None = None,
    load_model: Callable[[int], Any] | None = None,
) -> Report:
    """The report for ``dataset_id`` (see the module docstring): every finished run on the split most
    runs share, or ``run_ids``; people under pseudonyms unless ``keep_ids``. ``load_model(run_id)``
    replaces :meth:`recsys.store.Store.load_run_model` (the dashboard passes its cached loader). Raises
    :class:`DataError` with one sentence when there is nothing to report or a run id is wrong."""
    import plotly.offline

    from recsys.explore import item_labels

    start = time.perf_counter()
    now = time.time() if now is None else float(now)
    dataset = store.dataset(int(dataset_id))
    runs, notes = choose_runs(store, int(dataset_id), run_ids)
    inter, catalog = store.load_dataset(int(dataset_id))
    evaluations = {int(r): store.load_evaluation(int(r)) for r in runs["id"]}
    key = store.report_key()
    chart = _Charts()
    bodies = {
        "data": _data_section(store, dataset, inter, chart),
        "leaderboard": _leaderboard_section(runs, evaluations, chart)[0],
        "training": _training_section(store, runs, chart),
    }
    models_of = _Models(store, load_model)
    labels = item_labels(inter.item_ids, catalog)
    bodies["people"], people = _people_section(store, models_of, runs, inter, catalog, labels, keep_ids, key)
    bodies["similar"] = _similar_section(models_of, runs, inter, labels)
    bodies["exposure"] = _exposure_section(store, int(dataset_id), runs, inter, catalog, chart)
    bodies["methods"] = _methods_section(store, dataset, runs, evaluations, now)
    note_html = "".join(f'<p class="warning">{_e(n)}</p>' for n in notes)
    sections = "".join(
        f'<section class="report-section" id="{sid}"><h2>{_e(title)}</h2>{bodies[sid]}</section>'
        for sid, title in SECTIONS
    )
    toc = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title in SECTIONS)
    name = str(dataset.get("name") or f"Dataset {dataset_id}")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(name)}: recommender report</title>"
        "<meta name=\"generator\" content=\"Tastemaker\">"
        f"<style>{_CSS}</style>"
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>'
        f"<script>{_RESIZE_FOR_PRINT}</script>"
        "</head><body>"
        f'<header class="top"><div class="brand">{_logo()}</div><h1>{_e(name)}: what a recommender can do</h1>'
        f"<p>{len(runs)} models compared on {inter.n_users:,} people and {inter.n_items:,} items · made "
        f"{_when(now)}</p></header>"
        f'<nav class="toc">{toc}</nav><main>{note_html}{sections}</main>'
        "<footer>Made with Tastemaker. This file is self-contained: it needs no connection and holds no raw "
        "data file.</footer></body></html>\n"
    )
    return Report(html=page, dataset_id=int(dataset_id), run_ids=[int(r) for r in runs["id"]], people=people,
                  charts=chart.count, seconds=time.perf_counter() - start)


# -- PDF ------------------------------------------------------------------------------------------------
def pdf_available() -> tuple[bool, str]:
    """Whether :func:`print_pdf` can work here, and if not, why (one sentence)."""
    found = CHROMIUM if CHROMIUM.exists() else (shutil.which("chromium") or shutil.which("chromium-browser"))
    if not found:
        return False, ("PDF needs the Chromium browser on the machine that runs Tastemaker "
                       "(`apt-get install chromium`); the HTML report opens in any browser and prints to PDF from there.")
    return True, ""


def print_pdf(page_html: str, timeout: float = 120.0) -> bytes:
    """The report printed to PDF (A4) by headless Chromium, charts drawn. Raises ``RuntimeError`` with
    one sentence when Chromium is missing or fails."""
    ok, why = pdf_available()
    if not ok:
        raise RuntimeError(why)
    chromium = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium") or shutil.which("chromium-browser"))
    with tempfile.TemporaryDirectory(prefix="tastemaker-report-") as tmp:
        source = Path(tmp) / "report.html"
        target = Path(tmp) / "report.pdf"
        source.write_text(page_html, encoding="utf-8")
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", f"--user-data-dir={Path(tmp) / 'profile'}", "--no-pdf-header-footer",
            "--virtual-time-budget=20000", "--run-all-compositor-stages-before-draw",
            f"--print-to-pdf={target}", source.as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"Chromium took over {timeout:.0f} s to print the report; download the HTML "
                               "and print it from a browser.") from exc
        if not target.exists() or target.stat().st_size == 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"Chromium could not print the report ({tail[0][:200]}); download the HTML and "
                               "print it from a browser.")
        return target.read_bytes()
