"""A synthetic music catalogue for tests: a listening log and a track catalogue with artist names and a
record label, made here so that no test depends on movie data."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd


def music_files(tmp_path: Path, n_people: int = 90, n_tracks: int = 120, seed: int = 5) -> tuple[Path, Path]:
    """A listening log (listener, track, plays) and a catalogue (track, title, artist, label, genre):
    skewed popularity, a few big artists with many tracks and many small ones."""
    rng = np.random.default_rng(seed)
    artists = [f"Artist {chr(65 + a // 26)}{chr(65 + a % 26)}" for a in range(30)]
    share = 1.0 / np.arange(1, 31) ** 0.8
    artist_of = [artists[a] for a in rng.choice(30, size=n_tracks, p=share / share.sum())]
    weights = 1.0 / np.arange(1, n_tracks + 1) ** 0.9
    rows = []
    for p in range(n_people):
        for t in rng.choice(n_tracks, size=int(rng.integers(5, 20)), replace=False, p=weights / weights.sum()):
            rows.append((f"listener-{p:03d}-{seed}", f"trk{t:04d}", int(rng.integers(1, 40))))
    log = tmp_path / "plays.csv"
    pd.DataFrame(rows, columns=["listener_id", "track_id", "plays"]).to_csv(log, index=False)
    catalogue = tmp_path / "tracks.csv"
    pd.DataFrame({
        "track_id": [f"trk{t:04d}" for t in range(n_tracks)],
        "track_name": [f"Song {t}" for t in range(n_tracks)],
        "artist": artist_of,
        "label": [f"Label {zlib.crc32(a.encode()) % 4}" for a in artist_of],
        "genre": [["pop", "rock", "jazz", "folk"][t % 4] for t in range(n_tracks)],
    }).to_csv(catalogue, index=False)
    return log, catalogue
