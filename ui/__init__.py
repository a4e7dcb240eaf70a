"""Shared pieces of the Tastemaker dashboard (Streamlit only; the real work lives in ``recsys``).

* ``ui.format``: numbers for people (``fmt.count``, ``fmt.metric``, ``fmt.percent``, ``fmt.duration``...).
* ``ui.charts``: the Plotly template in the brand colours; ``style(fig, title, x, y)``, ``show(fig)``.
* ``ui.state``: the store, the current dataset in ``st.session_state``, cached loaders.
* ``ui.layout``: page header, sidebar, small labels.
* ``ui.errors``: ``guard("doing something")`` turns any exception into a readable ``st.error``.
* ``ui.navigation``: the studio's pages; ``through_app()`` makes every page run go through ``app.py``.

A page typically starts with::

    import ui
    ui.through_app()
    ui.page_header("Results", "Which model recommends best, and by how much.")
    dataset_id = ui.dataset_picker()
"""

from ui import charts, errors, layout, navigation, state
from ui import format as fmt
from ui.errors import guard, show_error
from ui.layout import page_header, pills
from ui.navigation import through_app
from ui.state import (
    current_dataset,
    dataset_picker,
    dataset_summary,
    datasets,
    device_info,
    finished_runs_or_stop,
    get_store,
    load_dataset,
    load_evaluation,
    load_run_model,
    nouns,
    run_recommendations,
    set_current_dataset,
    url_selectbox,
)

__all__ = [
    "charts", "errors", "fmt", "layout", "navigation", "state", "guard", "show_error", "page_header", "pills",
    "current_dataset", "dataset_picker", "dataset_summary", "datasets", "device_info", "finished_runs_or_stop", "get_store",
    "load_dataset", "load_evaluation", "load_run_model", "nouns", "run_recommendations", "set_current_dataset",
    "through_app", "url_selectbox",
]
