"""The Ray engine gives the local engine's files and maps (on a local Ray of 2 CPUs)."""

import sys

import numpy as np
import pytest
from PIL import Image

from salmap import load_model
from salmap.batch.manifest import JSONL, MANIFEST
from salmap.batch.ray import write_file
from salmap.cli import main
from salmap.inference import make_runner, predict_images


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="the Ray engine needs salmap[ray]")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def twenty_images(tmp_path_factory):
    """20 images of different sizes in two folders, plus one corrupt file."""
    root = tmp_path_factory.mktemp("in")
    rng = np.random.default_rng(1)
    for i in range(20):
        h, w = rng.integers(24, 90, 2)
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (root / "a" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return root


def predict_args(inputs, model, out, *options) -> list[str]:
    return ["predict", *map(str, inputs), "--model", str(model), "--out", str(out), *options]


def files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_ray_engine_equals_local_and_resumes(
    ray_local, tiny_saved_model, twenty_images, tmp_path, capsys
):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    save = ("--save", "density,map", "--batch-size", "4")
    assert main(predict_args([twenty_images], tiny_saved_model, local, *save)) == 1
    capsys.readouterr()
    ray_flags = ("--engine", "ray", "--actors", "2")
    uri = f"file://{distributed}"  # any pyarrow file system URI
    assert main(predict_args([twenty_images], tiny_saved_model, uri, *save, *ray_flags)) == 1
    text = capsys.readouterr()
    assert "20 image(s) done, 1 skipped" in text.out
    assert "corrupt.jpg" in text.err and "skipped" in text.err

    assert files(distributed) == files(local) and len(files(local)) == 41  # + manifest.jsonl
    assert (distributed / MANIFEST).read_text() == (local / MANIFEST).read_text()
    for npy in local.rglob("*_density.npy"):
        ours = np.load(distributed / npy.relative_to(local))
        assert np.abs(ours - np.load(npy)).max() <= 1e-6

    # An interrupted job: half the densities are gone; a rerun writes those and nothing else.
    gone = sorted(distributed.rglob("*_density.npy"))[::2]
    for p in gone:
        p.unlink()
    before = {p: p.stat().st_mtime_ns for p in distributed.rglob("*") if p.is_file()}
    rerun = predict_args([twenty_images], tiny_saved_model, distributed, *save, *ray_flags)
    assert main(rerun) == 2  # refused, as by the local engine
    assert "--skip-existing" in capsys.readouterr().err
    assert main([*rerun, "--skip-existing"]) == 1
    assert "10 image(s) done, 1 skipped, 10 done by an earlier run" in capsys.readouterr().out
    assert files(distributed) == files(local)
    after = {p: p.stat().st_mtime_ns for p in distributed.rglob("*") if p.is_file()}
    assert {p for p in after if before.get(p) != after[p]} == {*gone, distributed / MANIFEST}


def test_ray_crops_equal_local_and_resume_from_the_journal(
    ray_local, tiny_saved_model, twenty_images, tmp_path, capsys
):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    options = ("--aspect", "1:1,16:9", "--zoom", "0.8", "--save", "crop,preview")
    crop = ["crop", str(twenty_images), "--model", str(tiny_saved_model), *options]
    assert main([*crop, "--out", str(local)]) == 1
    capsys.readouterr()
    ray_flags = ("--engine", "ray", "--actors", "1", "--batch-size", "4")
    assert main([*crop, "--out", str(distributed), *ray_flags]) == 1
    assert "20 image(s) cropped, 1 skipped" in capsys.readouterr().out
    assert files(distributed) == files(local) and len(files(local)) == 61
    expected = (local / JSONL).read_text()
    assert (distributed / JSONL).read_text() == expected

    # Interrupted before crops.jsonl was written: the lines received so far are in the journal.
    journal = distributed / ".crops.partial"
    journal.mkdir()
    (distributed / JSONL).rename(journal / "1.jsonl")
    gone = sorted(distributed.rglob("*_crop_*.jpg"))[::4]  # 10 of the 40 crops
    for p in gone:
        p.unlink()
    before = {p: p.stat().st_mtime_ns for p in distributed.rglob("*") if p.is_file()}
    assert main([*crop, "--out", str(distributed), *ray_flags]) == 1
    assert "(10 kept from an earlier run)" in capsys.readouterr().out
    assert (distributed / JSONL).read_text() == expected and not journal.exists()
    after = {p: p.stat().st_mtime_ns for p in distributed.rglob("*") if p.is_file()}
    assert {p for p in after if before.get(p) != after[p]} == {*gone, distributed / JSONL}


def test_predict_dataset_in_memory(ray_local, tiny_saved_model):
    from salmap.distributed import predict_dataset

    rng = np.random.default_rng(2)
    images = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in [(30, 50), (64, 20)]]
    rows = [{"id": i, "image": im} for i, im in enumerate(images)]
    rows.append({"id": 2, "image": np.zeros((8, 8, 2), np.uint8)})  # not an image
    out = predict_dataset(ray_local.data.from_items(rows), tiny_saved_model, batch_size=2)
    got = sorted(out.take_all(), key=lambda r: r["id"])
    expected = predict_images(make_runner(load_model(tiny_saved_model)), images)
    for row, density in zip(got, expected):
        assert row["error"] == "" and row["density"].shape == density.shape
        assert np.abs(row["density"] - density).max() <= 1e-6
    assert "shape (8, 8, 2)" in got[2]["error"] and got[2]["density"].size == 0


def test_actors_run_the_model_on_their_share_of_the_cores(ray_local, tiny_saved_model):
    """onnxruntime ignores the OMP_NUM_THREADS Ray sets: an actor is told its threads; a
    Predictor built outside Ray takes the CPUs the process may use (its affinity) and leaves
    torch's threads alone."""
    pytest.importorskip("onnxruntime")
    import torch

    from salmap.batch.ray import CPUS_PER_ACTOR, Predictor, actor_options
    from salmap.export import usable_cpus

    options = actor_options(2, None, ray_local, {"model": "default"})
    kwargs = options["fn_constructor_kwargs"]

    @ray_local.remote(num_cpus=options["num_cpus"])
    def threads():
        runner = Predictor(**kwargs).runner
        return runner.session.get_session_options().intra_op_num_threads

    assert options["num_cpus"] == CPUS_PER_ACTOR
    assert ray_local.get(threads.remote()) == CPUS_PER_ACTOR

    before = torch.get_num_threads()
    options = Predictor("default").runner.session.get_session_options()
    assert options.intra_op_num_threads == usable_cpus()
    Predictor(str(tiny_saved_model))
    assert torch.get_num_threads() == before


def test_ray_engine_leaves_a_foreign_manifest_alone(ray_local, tiny_saved_model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text("my own notes\n")
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(image)
    args = predict_args([image], tiny_saved_model, out, "--engine", "ray", "--actors", "1")
    assert main(args) == 2
    assert "not a salmap manifest" in capsys.readouterr().err
    assert (out / MANIFEST).read_text() == "my own notes\n"


def test_without_ray_the_error_names_the_extra(
    tiny_saved_model, photos, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    args = predict_args([photos], tiny_saved_model, tmp_path / "out", "--engine", "ray")
    assert main(args) == 2
    assert "pip install 'salmap[ray]'" in capsys.readouterr().err
    assert main(predict_args([photos], tiny_saved_model, tmp_path / "out", "--actors", "2")) == 2
    assert "--actors only apply with --engine ray" in capsys.readouterr().err


def test_write_file_elsewhere_leaves_no_temporary(tmp_path):
    from pyarrow.fs import LocalFileSystem, SubTreeFileSystem

    fs = SubTreeFileSystem(str(tmp_path), LocalFileSystem())  # not local: temporary + move
    write_file(fs, "deep/er/x_map.png", b"png")
    assert (tmp_path / "deep/er/x_map.png").read_bytes() == b"png"
    assert files(tmp_path) == ["deep/er/x_map.png"]
