"""The batch engines run any job: a third one, beside predict's and crop's, needs no change to
them."""

import numpy as np
from PIL import Image

from salmap import load_model
from salmap.batch.inputs import collect_inputs
from salmap.batch.local import run_items
from salmap.inference import make_runner, predict_images, read_input


class PeakJob:
    """Each image's most salient pixel; writes nothing."""

    desc = "peaks"

    def __init__(self, items):
        self.items = items

    def read(self, k, config):
        return read_input(self.items[k].path, config)

    def write(self, k, image, density):
        y, x = np.unravel_index(int(density.argmax()), density.shape)
        return {"image": str(self.items[k].path), "peak": [int(x), int(y)]}

    def failed(self, k, message):
        return {"image": str(self.items[k].path), "error": message}


def test_a_third_job_runs_on_the_local_engine(tiny_saved_model, tmp_path):
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a.png": (30, 40), "b.png": (50, 20), "c.png": (16, 16)}.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / name)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    items = collect_inputs([str(tmp_path)]).items
    runner = make_runner(load_model(tiny_saved_model))
    lines = {}
    run_items(PeakJob(items), runner, batch_size=2, lines=lines, progress=False)

    assert sorted(lines) == [0, 1, 2, 3]
    by_name = {line["image"].rsplit("/", 1)[1]: line for line in lines.values()}
    assert "broken.png" in by_name["broken.png"]["error"]
    good = [tmp_path / n for n in ("a.png", "b.png", "c.png")]  # batched as run_items did
    for path, density in zip(good, predict_images(runner, good, batch_size=2)):
        y, x = np.unravel_index(int(density.argmax()), density.shape)
        assert by_name[path.name]["peak"] == [int(x), int(y)]
