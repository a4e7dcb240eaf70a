"""A synthetic listening log with play counts, artist names and taste, shaped like the public Last.fm
files a music label would try first (``user_artists.dat``: ``userID artistID weight``; ``artists.dat``:
``id name url pictureURL``; ``tags.dat``: ``tagID tagValue``), all tab-separated.

How it is drawn (seeded, so the same arguments give the same files):

* every artist has one of :data:`GENRES` and a Zipf-like popularity (``rank ** -0.9``, ranks shuffled);
* every listener loves one or two genres and follows some artists (a heavy-tailed number, 5 to 120):
  80% of them drawn from the loved genres, the rest from anything, each by popularity;
* plays are log-normal and higher for artists of a loved genre (median about 60 against about 6), so
  the counts carry taste: what a listener plays a lot says what else they will like.

The tests' one source of synthetic music (the browser test's non-movie data and screenshots, a small
uploaded file with :func:`plays_file`, a track catalogue with artists and labels with :func:`track_files`),
the count-weighting measurement in ``docs/benchmarks.md`` and the page speed measurement
(``benchmarks/ui_speed.py``). A test whose known answer needs a structure of its own (taste groups that
never meet, one scene per listener) builds that log itself.

Command line::

    python -m benchmarks.listening --listeners 2000 --artists 6000 --out data/listening
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

GENRES = ("rock", "jazz", "hip hop", "electronic", "folk", "metal", "pop", "classical")
_ADJECTIVES = (
    "Silver", "Velvet", "Electric", "Hollow", "Golden", "Quiet", "Neon", "Paper", "Iron", "Wild", "Lunar", "Crimson",
    "Glass", "Broken", "Midnight", "Static", "Amber", "Northern", "Hidden", "Restless", "Frozen", "Distant",
    "Burning", "Gentle", "Rusty", "Cosmic", "Copper", "Feral", "Marble", "Sleepy", "Sonic", "Tidal", "Violet",
    "Wooden", "Atomic", "Scarlet", "Misty", "Savage", "Hazy", "Bright",
)
_NOUNS = (
    "Foxes", "Owls", "Harbours", "Rivers", "Engines", "Ghosts", "Lanterns", "Wolves", "Gardens", "Saints", "Tigers",
    "Echoes", "Satellites", "Horses", "Mirrors", "Sparrows", "Kings", "Machines", "Pilots", "Comets", "Ravens",
    "Islands", "Bridges", "Dreamers", "Strangers", "Shadows", "Sailors", "Drums", "Hearts", "Orchids", "Cities",
    "Thieves", "Arrows", "Waves", "Monks", "Bees", "Giants", "Lions", "Clouds", "Stones",
)
_FIRST = (
    "Mara", "Jonas", "Ada", "Theo", "Lena", "Ravi", "Noor", "Felix", "Ines", "Oskar", "Yuki", "Milo", "Zara", "Hugo",
    "Elif", "Arlo", "Sade", "Nico", "Greta", "Omar", "Vera", "Luca", "Iris", "Kofi", "Alma", "Emil", "Rosa", "Tariq",
    "June", "Anton",
)
_LAST = (
    "Quinn", "Marsh", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Alvarez", "Berg", "Costa", "Novak", "Haddad",
    "Reyes", "Kowalski", "Sato", "Byrne", "Duval", "Keller", "Mensah", "Rossi", "Varga", "Holm", "Ortega", "Wilde",
    "Pike", "Santos", "Fischer", "Adeyemi", "Lund", "Serrano", "Nakamura",
)
_ENSEMBLES = ("", " Trio", " Quartet", " & the Night Shift", " Ensemble", " Collective")


def artist_names(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct artist names ("The Velvet Owls", "Mara Quinn Trio", ...), shuffled by ``seed``."""
    bands = [f"The {a} {b}" for a in _ADJECTIVES for b in _NOUNS] + [f"{a} {b}" for a in _ADJECTIVES for b in _NOUNS]
    people = [f"{f} {last}{e}" for e in _ENSEMBLES for f in _FIRST for last in _LAST]
    names = bands + people
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    picked = [names[i] for i in order[: min(n, len(names))]]
    for extra in range(len(picked), n):  # past every combination: numbered volumes
        picked.append(f"{names[order[extra % len(names)]]} {extra // len(names) + 1}")
    return picked


def listening_log(
    listeners: int = 300, artists: int = 1500, seed: int = 0, loved_share: float = 0.8
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(plays, catalogue, tags)`` frames in the Last.fm files' columns: ``plays`` has ``userID``,
    ``artistID``, ``weight`` (play counts, one row per listener and artist); ``catalogue`` has ``id``,
    ``name``, ``url``, ``pictureURL`` (empty: these artists have no pictures) for every artist; ``tags``
    has ``tagID``, ``tagValue`` (genre words and more, numbered like artists: a file that is easy to
    upload by mistake as the catalogue)."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(len(GENRES), size=artists)
    popularity = (rng.permutation(artists) + 1.0) ** -0.9
    by_genre = [np.flatnonzero(genre == g) for g in range(len(GENRES))]
    rows_user, rows_item, rows_plays = [], [], []
    for person in range(listeners):
        loved = rng.choice(len(GENRES), size=1 + int(rng.random() < 0.4), replace=False)
        size = int(min(artists // 2, 5 + rng.pareto(1.3) * 12, 120))
        pool = np.concatenate([by_genre[g] for g in loved])
        n_loved = min(len(pool), int(round(size * loved_share)))
        weights = popularity[pool] / popularity[pool].sum()
        chosen = set(rng.choice(pool, size=n_loved, replace=False, p=weights).tolist())
        others = rng.choice(artists, size=size * 2, p=popularity / popularity.sum())
        for artist in others:
            if len(chosen) >= size:
                break
            chosen.add(int(artist))
        items = np.array(sorted(chosen))
        fond = np.isin(genre[items], loved)
        plays = np.ceil(np.exp(rng.normal(np.where(fond, 4.1, 1.8), 1.1))).astype(np.int64)
        rows_user.append(np.full(len(items), person + 2))  # ids start at 2, like the public file
        rows_item.append(items + 1)
        rows_plays.append(plays)
    plays = pd.DataFrame({
        "userID": np.concatenate(rows_user), "artistID": np.concatenate(rows_item),
        "weight": np.concatenate(rows_plays),
    })
    names = artist_names(artists, seed)
    catalogue = pd.DataFrame({
        "id": np.arange(1, artists + 1),
        "name": names,
        "url": [f"http://www.last.fm/music/{n.replace(' ', '+')}" for n in names],
        "pictureURL": "",
    })
    words = list(GENRES) + ["seen live", "favorites", "chillout", "female vocalists", "80s", "indie", "british",
                            "instrumental", "love", "dance", "experimental", "ambient", "punk", "soul"]
    tags = pd.DataFrame({"tagID": np.arange(1, artists + 1),
                         "tagValue": [words[i % len(words)] + ("" if i < len(words) else f" {i // len(words)}")
                                      for i in range(artists)]})
    return plays, catalogue, tags


def plays_file(listeners: int = 40, artists: int = 30, seed: int = 0) -> bytes:
    """The plays of :func:`listening_log` as the bytes of an uploaded ``user_artists.dat`` (tab-separated,
    with its header): a small file for a test to save. Another ``seed`` gives another file."""
    return listening_log(listeners, artists, seed)[0].to_csv(sep="\t", index=False).encode()


def track_files(folder: str | Path, listeners: int = 90, tracks: int = 120, seed: int = 5) -> tuple[Path, Path]:
    """A listening log of tracks (``plays.csv``: ``listener_id, track_id, plays``) and its catalogue
    (``tracks.csv``: ``track_id, track_name, artist, label, genre``) in ``folder``: skewed popularity, a
    few big artists with many tracks and many small ones, each artist on one of four labels. Returns the
    two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    artists = artist_names(30, seed)
    share = 1.0 / np.arange(1, 31) ** 0.8
    artist_of = [artists[a] for a in rng.choice(30, size=tracks, p=share / share.sum())]
    weights = 1.0 / np.arange(1, tracks + 1) ** 0.9
    rows = []
    for person in range(listeners):
        for track in rng.choice(tracks, size=int(rng.integers(5, 20)), replace=False, p=weights / weights.sum()):
            rows.append((f"listener-{person:03d}-{seed}", f"trk{track:04d}", int(rng.integers(1, 40))))
    log = folder / "plays.csv"
    pd.DataFrame(rows, columns=["listener_id", "track_id", "plays"]).to_csv(log, index=False)
    catalogue = folder / "tracks.csv"
    pd.DataFrame({
        "track_id": [f"trk{t:04d}" for t in range(tracks)],
        "track_name": [f"Song {t}" for t in range(tracks)],
        "artist": artist_of,
        "label": [f"Label {zlib.crc32(a.encode()) % 4}" for a in artist_of],
        "genre": [GENRES[t % 4] for t in range(tracks)],
    }).to_csv(catalogue, index=False)
    return log, catalogue


def write(folder: str | Path, listeners: int = 300, artists: int = 1500, seed: int = 0) -> dict[str, Path]:
    """Write ``user_artists.dat``, ``artists.dat`` and ``tags.dat`` (tab-separated, with headers) into
    ``folder``; returns their paths by short name (``plays``, ``artists``, ``tags``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plays, catalogue, tags = listening_log(listeners, artists, seed)
    paths = {"plays": folder / "user_artists.dat", "artists": folder / "artists.dat", "tags": folder / "tags.dat"}
    plays.to_csv(paths["plays"], sep="\t", index=False)
    catalogue.to_csv(paths["artists"], sep="\t", index=False)
    tags.to_csv(paths["tags"], sep="\t", index=False)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listeners", type=int, default=300)
    parser.add_argument("--artists", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for user_artists.dat, artists.dat and tags.dat")
    args = parser.parse_args(argv)
    for name, path in write(args.out, args.listeners, args.artists, args.seed).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
