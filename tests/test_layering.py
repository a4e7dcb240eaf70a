"""The library stands on its own: nothing in recsys imports Streamlit."""

import ast
from pathlib import Path

RECSYS = Path(__file__).resolve().parents[1] / "recsys"


def test_recsys_never_imports_streamlit():
    offenders = []
    for path in RECSYS.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "streamlit" for n in names):
                offenders.append(str(path.relative_to(RECSYS.parent)))
    assert offenders == []
