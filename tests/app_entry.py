"""The script AppTest runs: the real ``app.py``, started from this folder.

Beside ``app.py`` sits ``pages/``, and AppTest resets Streamlit's process-wide pages-folder flag on every
run, so every run started from ``app.py`` itself would begin in Streamlit's old pages-folder mode (a page
file run on its own, then rerun through the app by ``ui.through_app``: two runs for one, and a button's
click spent on the first). No ``pages/`` sits beside this file, so every AppTest run goes straight through
``app.py``'s ``st.navigation``, as every run of a served app does once the first one has (see
``ui/navigation.py``). Pages are switched to relative to this folder: ``../pages/train.py``; the
``open_app`` fixture in ``conftest.py`` does that.
"""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "app.py"))
