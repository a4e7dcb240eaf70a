"""The words a dataset uses for its things: "artist", "listener" and "plays" on a listening log; "movie",
"viewer" and "stars" on film ratings; "item", "person" and "interactions" when nothing says more.

:func:`detect_nouns` reads them from the names the data comes with (column names, the file's name: a
column ``artistID`` or a file ``user_artists.dat`` says "artist"); a person can change them on the Data
page, and :meth:`recsys.store.Store.set_dataset_nouns` keeps that choice with the dataset.
:func:`dataset_nouns` gives the words of a saved dataset (chosen, else detected). Pages use them in
every title, caption and placeholder, and to label values by kind ("Plays", "Clicks", "Stars").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Nouns:
    """What a dataset calls things. ``item``/``items`` and ``person``/``people``: who interacts with
    what; ``event``/``events``: one row of the data ("play", "rating", "purchase", "interaction");
    ``did``: the past tense people read in "what they played"; ``value``: the column of numbers by kind
    ("plays", "stars", "clicks"; empty when rows carry no number)."""

    item: str = "item"
    items: str = "items"
    person: str = "person"
    people: str = "people"
    event: str = "interaction"
    events: str = "interactions"
    did: str = "picked"
    value: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Nouns:
        """Nouns from a dict (unknown keys ignored, missing ones default; a plural left empty is made
        from its singular)."""
        known = {f.name for f in fields(cls)}
        given = {k: str(v).strip() for k, v in dict(data or {}).items() if k in known and v is not None}
        nouns = cls(**{k: v for k, v in given.items() if v or k == "value"})
        for one, many in (("item", "items"), ("person", "people"), ("event", "events")):
            if one in given and many not in given:
                nouns = replace(nouns, **{many: plural(getattr(nouns, one))})
        return nouns

    def count(self, n: int | float, kind: str) -> str:
        """``count(1200, "item") -> "1,200 artists"``; ``kind`` is ``item``, ``person`` or ``event``."""
        one, many = {"item": (self.item, self.items), "person": (self.person, self.people),
                     "event": (self.event, self.events)}[kind]
        return f"{int(round(float(n))):,} {one if int(round(float(n))) == 1 else many}"

    @property
    def value_label(self) -> str:
        """The value column's heading: ``"Plays"``, ``"Stars"``, ``"Clicks"`` ("Value" when unnamed)."""
        return (self.value or "value").capitalize()


def plural(word: str) -> str:
    """English plural of a simple noun: artist -> artists, person -> people, category -> categories."""
    word = str(word).strip()
    irregular = {"person": "people", "child": "children", "man": "men", "woman": "women"}
    if word.lower() in irregular:
        return irregular[word.lower()]
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    return word + "s" if word else word


# -- detection ---------------------------------------------------------------------------------------
# One entry per domain: the words that give it away (in column or file names) and what it calls things.
# A word matches at a word boundary or as the start of an id-like name ("artistID", "movie_id", "Book-Title").
_DOMAINS: tuple[tuple[tuple[str, ...], dict[str, str]], ...] = (
    (("artist", "band", "musician"), dict(item="artist", person="listener", event="play", did="played", value="plays")),
    (("track", "song", "recording"), dict(item="track", person="listener", event="play", did="played", value="plays")),
    (("album",), dict(item="album", person="listener", event="play", did="played", value="plays")),
    (("podcast", "episode"), dict(item="episode", person="listener", event="listen", did="listened to", value="listens")),
    (("movie", "film"), dict(item="movie", person="viewer", event="view", did="watched", value="views")),
    (("show", "series", "video", "anime"), dict(item="title", person="viewer", event="view", did="watched", value="views")),
    (("book", "isbn", "novel"), dict(item="book", person="reader", event="read", did="read", value="reads")),
    (("article", "news", "post", "story"), dict(item="article", person="reader", event="read", did="read", value="reads")),
    (("game",), dict(item="game", person="player", event="play", did="played", value="plays")),
    (("recipe",), dict(item="recipe", person="cook", event="cook", did="cooked", value="times")),
    (("ad", "advert", "advertisement", "creative", "campaign"), dict(item="ad", person="visitor", event="click", did="clicked", value="clicks")),
    (("product", "sku", "article_id", "asin"), dict(item="product", person="customer", event="purchase", did="bought", value="purchases")),
    (("course", "lesson"), dict(item="course", person="learner", event="enrolment", did="took", value="enrolments")),
    (("job", "vacancy"), dict(item="job", person="candidate", event="application", did="applied to", value="applications")),
    (("hotel", "venue", "restaurant", "place", "poi"), dict(item="place", person="visitor", event="visit", did="visited", value="visits")),
)
# Words in a person column that say who the people are.
_PEOPLE = {"listener": "listener", "viewer": "viewer", "reader": "reader", "customer": "customer",
           "buyer": "buyer", "shopper": "shopper", "member": "member", "player": "player", "visitor": "visitor",
           "subscriber": "subscriber", "student": "student", "learner": "learner", "guest": "guest",
           "client": "client", "patient": "patient", "fan": "fan"}
# Words in a value column that say what the numbers count.
_VALUES = (
    (("playcount", "plays", "play", "listens", "listen", "scrobbles", "scrobble"), "plays"),
    (("clicks", "click", "clicked"), "clicks"),
    (("views", "view", "watches", "watched"), "views"),
    (("purchases", "purchase", "orders", "order", "bought"), "purchases"),
    (("quantity", "qty", "units", "amount"), "quantity"),
    (("stars", "star"), "stars"),
    (("rating", "ratings", "score", "rate", "grade"), "rating"),
    (("minutes", "duration", "seconds", "time_spent"), "minutes"),
    (("visits", "visit"), "visits"),
)
# A value column named only like this says nothing about what is counted: the domain's word is used.
_GENERIC_VALUES = ("weight", "count", "value", "n", "times", "freq", "frequency", "interactions")


def _words(name: str) -> list[str]:
    """``"userArtistID" -> ["user", "artist", "id"]``, ``"user_artists.dat" -> ["user", "artists", "dat"]``."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _has(words: Iterable[str], keys: tuple[str, ...]) -> bool:
    found = {_singular(w) for w in words} | set(words)
    return any(key in found for key in keys)


def detect_nouns(
    columns: Mapping[str, str | None] | None = None,
    names: Iterable[str] = (),
    explicit: bool = False,
    rating_max: float | None = None,
    has_values: bool | None = None,
) -> Nouns:
    """The nouns the names say. ``columns`` maps roles (user, item, rating, time) to column names;
    ``names`` are more names to read (the file's name, the catalogue's columns). The item column is read
    first, then the value column, then the other names; the first domain found wins. ``explicit`` data
    are ratings (each row a "rating", values "stars" on a scale up to 5 or "rating" otherwise);
    ``has_values=False`` (rows carry no number) leaves ``value`` empty."""
    columns = dict(columns or {})
    item_words = _words(columns.get("item") or "")
    value_words = _words(columns.get("rating") or "")
    person_words = _words(columns.get("user") or "")
    other_words = [w for name in names for w in _words(name)]
    found: dict[str, str] = {}
    for words in (item_words, value_words, other_words, person_words):
        for keys, nouns in _DOMAINS:
            if _has(words, keys):
                found = dict(nouns)
                break
        if found:
            break
    for word in person_words:
        if _singular(word) in _PEOPLE:
            found["person"] = _PEOPLE[_singular(word)]
            break
    value = ""
    for keys, label in _VALUES:
        if _has(value_words, keys):
            value = label
            break
    if explicit:
        found.update(event="rating", did="rated")
        value = "stars" if rating_max is not None and float(rating_max) <= 5 else (value if value in ("stars", "rating") else "rating")
    elif not value and columns.get("rating"):
        generic = all(_singular(w) in _GENERIC_VALUES or w in _GENERIC_VALUES for w in value_words)
        value = (found.get("value", "") if generic else "") or " ".join(value_words) or "weight"
    elif not columns.get("rating"):
        value = ""
    if has_values is False:
        value = ""
    elif has_values and not value:
        value = found.get("value") or "weight"
    found["value"] = value
    return Nouns.from_dict(found)


def dataset_nouns(summary: Mapping[str, Any]) -> Nouns:
    """The nouns of a saved dataset (a row of :meth:`recsys.store.Store.list_datasets`): those a person
    chose (kept in its report as ``nouns``), else detected from its columns and file name."""
    report = dict(summary.get("report") or {})
    detected = detect_nouns(
        summary.get("columns") or report.get("columns") or {},
        names=[str(summary.get("source_name") or ""), str(summary.get("name") or "")],
        explicit=bool(summary.get("explicit")),
        rating_max=(report.get("rating_scale") or {}).get("max"),
        has_values=bool(report.get("rating_scale") or report.get("value_range")),
    )
    chosen = report.get("nouns")
    if not isinstance(chosen, Mapping) or not chosen:
        return detected
    merged = detected.to_dict()
    for one, many in (("item", "items"), ("person", "people"), ("event", "events")):
        if chosen.get(one) and not chosen.get(many):
            merged[many] = plural(str(chosen[one]))
    merged.update({k: v for k, v in chosen.items() if v is not None})
    return Nouns.from_dict(merged)
