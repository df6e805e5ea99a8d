"""salmap.files: outputs appear whole or not at all."""

import pytest

from salmap.files import atomic_folder


def test_a_failed_build_leaves_nothing(tmp_path):
    target = tmp_path / "cache"
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        (tmp / "part.npy").write_bytes(b"half")
        raise RuntimeError("crash while building")
    assert list(tmp_path.iterdir()) == []


def test_a_finished_build_appears_whole(tmp_path):
    target = tmp_path / "cache"
    with atomic_folder(target) as tmp:
        (tmp / "meta.json").write_text("{}")
        assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]
    assert (target / "meta.json").read_text() == "{}"


def test_an_existing_folder_wins_unless_replaced(tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old").write_text("old")
    with atomic_folder(target) as tmp:  # another process finished first: keep its copy
        (tmp / "new").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["old"]
    with atomic_folder(target, replace=True) as tmp:
        (tmp / "new").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
