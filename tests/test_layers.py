"""The import floors: the rendering kit sits below everything that renders, the run report above what it reports.

Read from the source (every `import` and `from` statement, lazy ones included), so a cycle or a floor run up
is caught without importing torch.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "wmemb"


def wmemb_imports(path: Path) -> set[str]:
    """The wmemb modules a file or package imports anywhere in it."""
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    found = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    return {name for name in found if name == "wmemb" or name.startswith("wmemb.")}


def test_render_depends_only_on_text_helpers():
    assert wmemb_imports(SOURCE / "render") <= {
        "wmemb.render.charts",
        "wmemb.render.document",
        "wmemb.render.tables",
        "wmemb.text",
    }
    assert wmemb_imports(SOURCE / "text.py") == set()  # the one module render uses imports nothing of wmemb


@pytest.mark.parametrize("part", ["evaluate", "train", "experiment.py", "vocab", "generate", "corpus"])
def test_lower_floors_do_not_import_the_run_report(part):
    assert not {name for name in wmemb_imports(SOURCE / part) if name.startswith("wmemb.report")}
