"""The export and import commands' choices are the library's, and the error without pose-format names the extra."""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from signprep.cli import app


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_the_format_choices_are_the_libraries():
    from signprep.commands.export import Format
    from signprep.exports import FORMATS

    assert tuple(f.value for f in Format) == FORMATS


def test_without_pose_format_the_error_names_the_extra(dsft_shards: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pose_format", None)  # what `import pose_format` meets when it is absent
    result = invoke("export", dsft_shards, "-f", "pose", "-o", tmp_path / "poses")
    assert result.exit_code == 2
    assert "export --format pose needs the pose-format library: pip install 'signprep[pose]'" in result.output
    result = invoke("import", tmp_path, "-o", tmp_path / "out")
    assert result.exit_code == 2 and "pip install 'signprep[pose]'" in result.output
    assert not (tmp_path / "poses").exists() and not (tmp_path / "out").exists()
    # the other formats do not need it
    assert invoke("export", dsft_shards, "-f", "npz", "-o", tmp_path / "npz", "-s", "90008").exit_code == 0
