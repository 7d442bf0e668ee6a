"""host.outputs: a command's output files are written all or none, never replaced."""

from __future__ import annotations

import pytest

from host.outputs import write_all
from host.session import DatasetError


def test_all_files_arrive_together(tmp_path):
    a, b = tmp_path / "new" / "a.csv", tmp_path / "new" / "b.png"
    assert write_all({a: lambda p: p.write_text("A"), b: lambda p: p.write_text("B")}) == [a, b]
    assert a.read_text() == "A" and b.read_text() == "B"
    assert sorted(p.name for p in a.parent.iterdir()) == ["a.csv", "b.png"]  # no temp left


def test_an_interruption_leaves_nothing_and_an_existing_file_is_kept(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.png"

    def interrupted(path):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_all({a: lambda p: p.write_text("A"), b: interrupted})
    assert list(tmp_path.iterdir()) == []
    b.write_text("kept")
    with pytest.raises(DatasetError, match="b.png: exists"):
        write_all({a: lambda p: p.write_text("A"), b: lambda p: p.write_text("B")})
    assert [p.name for p in tmp_path.iterdir()] == ["b.png"] and b.read_text() == "kept"


def test_a_figure_made_again_replaces_the_old_one_whole(tmp_path):
    png = tmp_path / "a.png"
    png.write_text("old")
    write_all({png: lambda p: p.write_text("new")}, replace=True)
    assert png.read_text() == "new"

    def interrupted(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_all({png: interrupted}, replace=True)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"] and png.read_text() == "new"
