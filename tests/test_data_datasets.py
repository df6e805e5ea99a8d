import os

import numpy as np
import pytest
from PIL import Image
from replicas import (
    copy_folder_dataset,
    make_bubbleview,
    make_cat2000,
    make_eyecrowd,
    make_mit1003,
    make_osie,
    make_salicon,
)

from salmap.data import FORMATS, fold_indices, guess_format, open_dataset, split_indices
from salmap.data.info import summarize
from salmap.errors import DataError


def _check_sample(s, kind):
    h, w = s["image"].shape[:2]
    assert s["image"].dtype == np.uint8 and s["image"].shape[2] == 3
    assert s["saliency_map"].shape == (h, w) and s["map_kind"] == kind
    if kind == "density":
        assert s["saliency_map"].sum() == pytest.approx(1.0, abs=1e-4)
    else:
        assert s["saliency_map"].min() >= 0 and s["saliency_map"].max() <= 1
    fix = s["fixations"]
    assert fix.ndim == 2 and fix.shape[1] == 2 and len(fix) > 0
    assert (fix[:, 0] < w).all() and (fix[:, 1] < h).all() and (fix >= 0).all()


def _tree_state(root):
    return sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*"))


def test_cat2000_replica(tmp_path):
    root = make_cat2000(tmp_path)
    before = _tree_state(root)
    for path in (root, tmp_path):  # trainSet or its parent
        assert guess_format(path) == "cat2000"
    ds = open_dataset(tmp_path)
    assert len(ds) == 6 and ds.ids[0] == "Action/001"
    assert sorted(set(ds.categories)) == ["Action", "Indoor"]
    s = ds[0]
    _check_sample(s, "distributed")
    # fixLocs round-trips through the binary map: each fixation sits on a fixated pixel
    mini = open_dataset(copy_folder_dataset(tmp_path / "m"))[0]
    assert len(s["fixations"]) == len(np.unique(np.floor(mini["fixations"]), axis=0))
    assert _tree_state(root) == before  # nothing written under the dataset


def test_cat2000_split_is_stratified(tmp_path):
    ds = open_dataset(make_cat2000(tmp_path, per_category=5), "cat2000")
    val = ds.split("val")
    assert len(val) == 2 and sorted(val.categories) == ["Action", "Indoor"]
    assert set(val.ids).isdisjoint(ds.split("train").ids)


def test_mit1003_replica_and_missing_underscore(tmp_path):
    make_mit1003(tmp_path)
    ds = open_dataset(tmp_path)
    assert ds.format == "mit1003" and len(ds) == 4 and not ds.problems
    for i in range(len(ds)):
        _check_sample(ds[i], "distributed")
    assert ds.records[1].fixations.name == "i0001fixPts.jpg"


def test_salicon_replica_keeps_official_split(tmp_path):
    make_salicon(tmp_path)
    ds = open_dataset(tmp_path)
    assert ds.format == "salicon" and len(ds) == 5 and ds.unlabelled == 1
    assert len(ds.split("train")) == 3 and len(ds.split("val")) == 2
    s = ds[0]
    _check_sample(s, "distributed")
    assert len(np.unique(s["subjects"])) == 12
    # 1-based pixel k becomes the centre of 0-based pixel k - 1
    mini = open_dataset(copy_folder_dataset(tmp_path / "m"))[0]
    np.testing.assert_allclose(s["fixations"], np.floor(mini["fixations"]) + 0.5)


def test_folder_dataset_csv_and_npy(tmp_path):
    root = copy_folder_dataset(tmp_path)
    ds = open_dataset(root)
    assert ds.format == "folder" and len(ds) == 12
    s = ds[0]
    _check_sample(s, "density")
    assert len(np.unique(s["subjects"])) == 12
    # a .npy fixation file without a header, and a CSV without a header
    (root / "fixations" / "048.csv").unlink()
    np.save(root / "fixations" / "048.npy", s["fixations"])
    rows = np.loadtxt(root / "fixations" / "078.csv", delimiter=",", skiprows=1)
    np.savetxt(root / "fixations" / "078.csv", rows[:, :2], delimiter=",")
    ds = open_dataset(root)
    np.testing.assert_allclose(ds[0]["fixations"], s["fixations"])
    assert ds[1]["subjects"] is None and len(ds[1]["fixations"]) == len(rows)


def test_folder_problems_are_listed_with_file_names(tmp_path):
    root = copy_folder_dataset(tmp_path)
    Image.new("RGB", (20, 10)).save(root / "images" / "orphan.png")
    (root / "images" / "notes.txt").write_text("hello")
    (root / "maps").mkdir()
    Image.new("L", (7, 7)).save(root / "maps" / "048.png")
    data = (root / "images" / "078.jpg").read_bytes()
    (root / "images" / "078.jpg").write_bytes(data[:2000])
    (root / "fixations" / "173.csv").write_text("x,y\n")
    ds = open_dataset(root)
    problems = "\n".join(summarize(ds)["problems"])
    assert "orphan.png: no map" in problems
    assert "notes.txt: not an image" in problems
    assert "maps/048.png is 7x7 but" in problems and "images/048.jpg is 320x320" in problems
    assert "078.jpg: truncated" in problems
    assert "173.jpg: no saliency map and no fixations" in problems
    with pytest.raises(DataError, match="048"):
        ds[ds.ids.index("048")]


def test_out_of_image_fixations_are_dropped_with_a_count(tmp_path):
    root = copy_folder_dataset(tmp_path)
    with open(root / "fixations" / "048.csv", "a") as f:
        f.write("-5,10,0\n400,10,0\n")
    ds = open_dataset(root)
    s = ds[0]
    assert s["dropped"] == 2
    assert "2 fixation(s) outside the image" in "\n".join(summarize(ds, check=False)["problems"])


def test_wrong_layout_is_explained(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(DataError, match="no known dataset layout"):
        open_dataset(tmp_path)
    with pytest.raises(DataError, match="not a CAT2000 trainSet"):
        open_dataset(tmp_path, "cat2000")
    with pytest.raises(DataError, match="unknown dataset format"):
        open_dataset(tmp_path, "imagenet")
    assert set(FORMATS) == {
        "cat2000",
        "mit1003",
        "salicon",
        "nus-scene",
        "osie",
        "eyecrowd",
        "bubbleview",
        "folder",
    }


def test_split_is_deterministic_and_stable():
    ids = [f"{i:03d}" for i in range(100)]
    train, val = split_indices(ids)
    assert len(val) == 20 and len(train) == 80 and not set(train) & set(val)
    assert (train, val) == split_indices(list(ids))
    assert split_indices(ids, seed=1)[1] != val
    # adding images does not reshuffle the ones already there beyond the quota
    more = split_indices(ids + [f"x{i}" for i in range(10)])[1]
    assert len(set(more) & set(val)) >= 17


@pytest.mark.shared
def test_nus_scene_real(nus_scene):
    ds = open_dataset(nus_scene)
    assert ds.format == "nus-scene" and len(ds) == 500 and ds.n_subjects == 12
    s = ds[ds.ids.index("003")]  # 1600 x 1200: non-square, coordinates corrected
    _check_sample(s, "density")
    assert s["dropped"] == 0
    sizes = [ds.image_size(i) for i in range(len(ds))]
    assert sum(h == w for h, w in sizes) == 312
    info = summarize(ds, check=False)
    assert info["fixations"]["total"] == 43894 and info["fixations_dropped_outside"] == 0
    assert info["split"] == {"train": 400, "val": 100}


@pytest.mark.shared
def test_nus_scene_coordinates_are_row_column(nus_scene):
    """Stored as (row, column): so read, every fixation of a non-square image lies inside it;
    read as (x, y), about a fifth fall outside."""
    ds = open_dataset(nus_scene)
    outside = total = 0
    for i, rec in enumerate(ds.records):
        h, w = ds.image_size(i)
        if h == w:
            continue
        raw = np.concatenate(rec.extra["fixations"])
        outside += int(((raw[:, 0] >= w) | (raw[:, 1] >= h)).sum())
        total += len(raw)
        fix, _, dropped = ds.fixations_inside(i, (h, w))
        assert dropped == 0
        np.testing.assert_array_equal(fix, raw[:, ::-1])
    assert 0.15 < outside / total < 0.25
    # 001 is a beach: the observers follow the shoreline across the image, not down its middle
    fix, _, _ = ds.fixations_inside(ds.ids.index("001"))
    assert fix[:, 0].std() > 2 * fix[:, 1].std()


def test_readers_never_write(tmp_path):
    root = copy_folder_dataset(tmp_path)
    for p in root.rglob("*"):
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        ds = open_dataset(root)
        summarize(ds)
        ds[0]
    finally:
        for p in root.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert os.access(root, os.W_OK)


def test_user_folder_with_train_subfolders_is_not_salicon(tmp_path):
    root = copy_folder_dataset(tmp_path)
    (root / "images" / "train").mkdir()
    (root / "maps" / "train").mkdir(parents=True)
    for p in list((root / "images").glob("*.jpg"))[:2]:
        p.rename(root / "images" / "train" / p.name)
    assert guess_format(root) == "folder"


@pytest.mark.parametrize(
    "make, fmt, ids",
    [
        (make_osie, "osie", ["1001", "1002", "1003", "1004"]),
        (make_eyecrowd, "eyecrowd", ["001", "002", "003", "004"]),
    ],
)
def test_osie_and_eyecrowd_replicas(tmp_path, make, fmt, ids):
    root = make(tmp_path)
    before = _tree_state(root)
    for path in (root, tmp_path):  # data/ or its parent
        assert guess_format(path) == fmt
    ds = open_dataset(tmp_path)
    assert ds.format == fmt and len(ds) == 4 and not ds.problems
    assert ds.ids == ids and ds.n_subjects == 12
    mini = open_dataset(copy_folder_dataset(tmp_path / "m"))
    for i in range(len(ds)):
        s = ds[i]
        _check_sample(s, "density")
        # x, y as the named fields say, with each fixation's observer
        order = np.argsort(mini[i]["subjects"], kind="stable")
        np.testing.assert_allclose(s["fixations"], mini[i]["fixations"][order])
        assert len(np.unique(s["subjects"])) == 12
    assert _tree_state(root) == before


def test_osie_problems_name_the_file(tmp_path):
    root = make_osie(tmp_path)
    (root / "stimuli" / "1002.jpg").unlink()
    ds = open_dataset(root)
    assert len(ds) == 3 and "1002.jpg: missing" in ds.problems[0]
    scipy_io = pytest.importorskip("scipy.io")
    scipy_io.savemat(root / "eye" / "fixations.mat", {"fix": np.zeros(3)})
    with pytest.raises(DataError, match="fixations.mat: variable 'fixations' not found"):
        open_dataset(root)


@pytest.mark.shared
def test_osie_real(osie):
    ds = open_dataset(osie)
    assert ds.format == "osie" and len(ds) == 700 and ds.n_subjects == 15 and not ds.problems
    assert ds.ids[0] == "1001" and ds.ids[-1] == "1700"
    s = ds[0]
    _check_sample(s, "density")
    assert s["image"].shape == (600, 800, 3) and len(np.unique(s["subjects"])) == 15
    info = summarize(ds, check=False)
    assert info["fixations"]["total"] == 98321 and info["fixations_dropped_outside"] == 0
    assert (info["fixations"]["min"], info["fixations"]["max"]) == (111, 179)
    assert info["image_sizes"] == {"800x600": 700}
    assert info["split"] == {"train": 560, "val": 140}


def test_eyecrowd_is_told_from_osie(tmp_path):
    root = make_eyecrowd(tmp_path / "ec")
    # either sign is enough: EyeCrowd's names without labels.mat, or labels.mat beside OSIE's
    (root / "labels.mat").unlink()
    assert guess_format(root) == "eyecrowd"
    osie = make_osie(tmp_path / "osie")
    assert guess_format(osie) == "osie"
    (osie / "labels.mat").write_bytes(b"")
    assert guess_format(osie) == "eyecrowd"
    # --format overrides the guess: the same reader reads either
    as_osie = open_dataset(root, "osie")
    assert as_osie.format == "osie" and as_osie.ids == ["001", "002", "003", "004"]
    with pytest.raises(DataError, match="not EyeCrowd: needs stimuli/"):
        open_dataset(copy_folder_dataset(tmp_path / "m"), "eyecrowd")


def test_bubbleview_replica(tmp_path):
    root = make_bubbleview(tmp_path)
    before = _tree_state(root)
    mini = open_dataset(copy_folder_dataset(tmp_path / "m"))
    for name, prefix, kind in (
        ("designs.mat", "gdi", "distributed"),
        ("photos.mat", "osie", "density"),
    ):
        assert guess_format(root / name) == "bubbleview"
        ds = open_dataset(root / name)
        assert ds.format == "bubbleview" and len(ds) == 4 and not ds.problems
        assert (
            ds.root == root / name and ds.n_subjects == 12
        )  # the viewer without clicks is not one
        assert ds.ids == [f"{prefix}_{k:02d}" for k in range(4)]
        for i in range(len(ds)):
            s = ds[i]
            _check_sample(s, kind)
            want = mini[i]["fixations"][np.argsort(mini[i]["subjects"], kind="stable")]
            if name == "designs.mat" and i == 1:  # the first viewer clicked once
                first = mini[i]["subjects"] == mini[i]["subjects"].min()
                want = np.concatenate([want[:1], want[first.sum() :]])
            np.testing.assert_allclose(s["fixations"], want)
            assert np.unique(s["subjects"]).tolist() == list(range(12))
            if kind == "distributed":  # the importance map, resized from 640 px, not stretched
                expected = mini[i]["saliency_map"]
                assert np.corrcoef(s["saliency_map"].ravel(), expected.ravel())[0, 1] > 0.98
                assert s["saliency_map"].max() == pytest.approx(1.0, abs=0.02)
        assert ds.sample(0, density=False)["map_kind"] == kind
    assert _tree_state(root) == before


def test_bubbleview_folder_asks_for_a_file_and_problems_name_it(tmp_path):
    root = make_bubbleview(tmp_path)
    assert guess_format(root) == "bubbleview"
    with pytest.raises(DataError, match="pass one of designs.mat, photos.mat"):
        open_dataset(root)
    osie = make_osie(tmp_path / "o")
    with pytest.raises(DataError, match="not a folder, nor a BubbleView .mat file"):
        guess_format(osie / "eye" / "fixations.mat")
    with pytest.raises(DataError, match="no such folder or file"):
        guess_format(root / "gdi.mat")
    (root / "targets_osie" / "osie_02.jpg").unlink()
    (root / "gdi-official" / "gdi_03.png").unlink()
    photos, designs = open_dataset(root / "photos.mat"), open_dataset(root / "designs.mat")
    assert photos.ids == ["osie_00", "osie_01", "osie_03"]
    assert "osie_02.jpg: missing (named in" in photos.problems[0]
    assert "photos.mat, bubble(3)" in photos.problems[0]
    assert len(designs) == 4 and "gdi_03.png: missing; the click density" in designs.problems[0]
    assert designs[3]["map_kind"] == "density" and designs[2]["map_kind"] == "distributed"
    Image.new("L", (640, 100)).save(root / "gdi-official" / "gdi_00.png")
    with pytest.raises(
        DataError, match=r"gdi_00.png is 640x100 but .*gdi_00.jpg is \d+x\d+: .* aspect ratio"
    ):
        designs[0]


def test_bubbleview_click_outside_is_dropped_and_reported(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    root = make_bubbleview(tmp_path, n=2)
    mat = scipy_io.loadmat(root / "photos.mat")
    enc = mat["bubble"][0, 1]["userdata"][0, 0]["fixations"][0, 0]["enc"]
    h = Image.open(root / "targets_osie" / "osie_01.jpg").height
    enc[0] = (-3.0, 10.0)
    enc[1] = (10.0, h)  # below the last row
    scipy_io.savemat(root / "photos.mat", {"bubble": mat["bubble"]})
    ds = open_dataset(root / "photos.mat")
    assert ds[1]["dropped"] == 2 and ds[0]["dropped"] == 0
    info = summarize(ds, check=False)
    assert info["fixations_dropped_outside"] == 2
    assert "osie_01.jpg: 2 fixation(s) outside the image" in "\n".join(info["problems"])


@pytest.mark.shared
def test_eyecrowd_real(eyecrowd, osie):
    assert guess_format(eyecrowd) == "eyecrowd" and guess_format(osie) == "osie"
    ds = open_dataset(eyecrowd)
    assert ds.format == "eyecrowd" and len(ds) == 500 and ds.n_subjects == 16
    assert ds.ids[0] == "001" and ds.ids[-1] == "500"
    s = ds[0]
    _check_sample(s, "density")
    assert s["image"].shape == (768, 1024, 3) and len(np.unique(s["subjects"])) == 16
    info = summarize(ds, check=False)
    # 126,348 fixations; 3 lie exactly on the far edge (x = 1024 or y = 768), outside by
    # salmap's rule x < width, y < height
    assert info["fixations"]["total"] + info["fixations_dropped_outside"] == 126348
    assert info["fixations_dropped_outside"] == 3
    assert [p.split("/")[-1] for p in info["problems"]] == [
        f"{n}.jpg: 1 fixation(s) outside the image, dropped" for n in (393, 408, 440)
    ]
    assert info["image_sizes"] == {"1024x768": 500}
    assert info["split"] == {"train": 400, "val": 100}


@pytest.mark.shared
def test_bubbleview_real(bubbleview):
    def opened(name):
        ds = open_dataset(bubbleview / name)
        return ds, summarize(ds, check=False)

    gdi, info = opened("gdi30x50.mat")
    assert (len(gdi), gdi.n_subjects, info["fixations"]["total"]) == (51, 15, 11508)
    assert info["fixations_dropped_outside"] == 0 and not info["problems"]
    s = gdi[0]
    _check_sample(s, "distributed")
    assert s["image"].shape == (450, 600, 3) and len(np.unique(s["subjects"])) == 14
    massvis, info = opened("massvis_fv_40x32.mat")
    assert (len(massvis), info["fixations"]["total"]) == (30, 25121)
    assert info["fixations_dropped_outside"] == 1
    assert info["problems"][0].endswith("vis230.png: 1 fixation(s) outside the image, dropped")
    _check_sample(massvis[0], "density")
    clicks, info = opened("osie30x30.mat")
    assert (len(clicks), clicks.n_subjects, info["fixations"]["total"]) == (51, 63, 36286)
    eyes, info = opened("osie-eye-official.mat")
    assert (len(eyes), eyes.n_subjects, info["fixations"]["total"]) == (51, 15, 7117)
    assert eyes.ids == clicks.ids and eyes.ids[0] == "1004"
    assert info["image_sizes"] == {"640x480": 51}


def test_folds_are_stratified_and_deterministic():
    ids = [f"{i:03d}" for i in range(53)]
    cats = ["a"] * 23 + ["b"] * 30
    folds = fold_indices(ids, cats, k=5)
    assert folds == fold_indices(list(ids), list(cats), k=5)
    for c, n in (("a", 23), ("b", 30)):
        sizes = np.bincount([f for f, cc in zip(folds, cats) if cc == c], minlength=5)
        assert sizes.max() - sizes.min() <= 1 and sizes.sum() == n
    assert fold_indices(ids, cats, k=5, seed=1) != folds
    with pytest.raises(ValueError, match="k >= 2"):
        fold_indices(ids, k=1)
