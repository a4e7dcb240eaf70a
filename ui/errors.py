"""Errors shown the way a person can act on them: never a traceback on the page.

``recsys`` raises errors already worded for the user (``DataError``, ``ModelError`` and any other
``ValueError`` defined in ``recsys``): those are shown as they are. Anything unexpected is shown as one
sentence saying where its details went: the traceback is appended to ``logs/dashboard.log`` in the data
folder, for whoever looks after the studio (Streamlit's own error display is off too:
``client.showErrorDetails = "none"`` in ``.streamlit/config.toml``).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

LOG_NAME = "dashboard.log"


def is_user_error(exc: BaseException) -> bool:
    """True for errors ``recsys`` words for the user (a ``ValueError`` defined inside ``recsys``)."""
    return isinstance(exc, ValueError) and type(exc).__module__.startswith("recsys")


@dataclass
class Outcome:
    """What happened inside :func:`guard`: ``ok`` is False once an error was shown."""

    ok: bool = True
    error: BaseException | None = None


def log_path() -> Path:
    """``logs/dashboard.log`` in the data folder (``TASTEMAKER_HOME``), where unexpected errors go."""
    from recsys.store import default_home

    return default_home() / "logs" / LOG_NAME


def log_unexpected(exc: BaseException, action: str) -> tuple[str, Path | None]:
    """Append ``exc``'s traceback to :func:`log_path`; return the time stamp written and the log's path
    (None when it could not be written)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {stamp} while {action}\n")
            log.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    except OSError:
        return stamp, None
    return stamp, path


def show_error(exc: BaseException, action: str) -> None:
    """Show ``exc`` as an ``st.error``: the library's own words for user errors, else one sentence that
    says where the details were logged."""
    if is_user_error(exc):
        st.error(str(exc))
        return
    stamp, path = log_unexpected(exc, action)
    where = f"the details are in {path} (at {stamp})" if path else "the details could not be written to the log"
    st.error(f"Something unexpected went wrong while {action}; nothing was changed. Try again; if it keeps "
             f"happening, {where}.")


@contextmanager
def guard(action: str) -> Iterator[Outcome]:
    """Run a block and turn any exception into a readable ``st.error``.

    ``action`` completes the sentence "while ...", e.g. ``"reading your file"``. Streamlit's own
    control flow (reruns, page switches) passes through untouched (it is not an ``Exception``).

        with guard("saving the dataset") as outcome:
            store.save_dataset(...)
        if outcome.ok:
            st.success("Saved")
    """
    outcome = Outcome()
    try:
        yield outcome
    except Exception as exc:  # noqa: BLE001 - the point is that nothing reaches the page raw
        outcome.ok = False
        outcome.error = exc
        show_error(exc, action)
