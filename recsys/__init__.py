"""Tastemaker's recommender library: data, splits, metrics, models, runs.

Usable on its own (``python -m recsys --help``); the Streamlit pages only call into it.
This package never imports Streamlit.
"""

from recsys.data import Catalog, DataError, Interactions

__all__ = ["Catalog", "DataError", "Interactions"]
__version__ = "0.1.0"
