"""docs/agreements.md shows each example exactly as `broker agreements render` prints it today."""

from __future__ import annotations

from pathlib import Path

import pytest

from agreements import load_file
from agreements.render import render_markdown

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "agreements" / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_docs_carry_the_current_rendering(path: Path) -> None:
    rendered = render_markdown(load_file(path))
    demoted = "\n".join(("##" + line if line.startswith("#") else line) for line in rendered.splitlines())
    assert demoted in (ROOT / "docs" / "agreements.md").read_text(encoding="utf-8")
