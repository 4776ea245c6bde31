"""``broker synth`` works however broker/cli/main.py registers it: as a command or as a sub-typer."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from broker.synth import Manifest
from broker.synth.cli import app, synth_command


def root_with_synth(style: str) -> typer.Typer:
    root = typer.Typer()
    if style == "command":
        root.command("synth")(synth_command)
    else:
        root.add_typer(app, name="synth")

    @root.command()
    def other() -> None:  # a second command, so "synth" is dispatched by name
        """Placeholder."""

    return root


@pytest.mark.parametrize("style", ["command", "typer"])
def test_synth_writes_the_same_files_as_the_api(
    style: str, tiny: tuple[Path, Manifest], tmp_path: Path
) -> None:
    args = ["synth", "--preset", "tiny", "--seed", "1", "--out", str(tmp_path)]
    result = CliRunner().invoke(root_with_synth(style), args)
    assert result.exit_code == 0, result.output
    _, manifest = tiny
    assert manifest.digest() in result.output.replace("\n", "")
    assert (tmp_path / "manifest.json").exists()


def test_unknown_preset_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        root_with_synth("command"), ["synth", "--preset", "huge", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert not any(tmp_path.iterdir())
