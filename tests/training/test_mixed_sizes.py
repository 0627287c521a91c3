"""Real folders mix image sizes (songs rendered whole, clips cut by hand, plots trimmed of their margins): the
time_crop family trains on crops of every image and evaluates each whole image, on both data paths, and
eval.py and predict.py score them as they would one image at a time."""

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import TINY, compose_train
from hydra.utils import instantiate
from PIL import Image

from genre_lightning.training.kfold import train

# data.image_size is 64 in TINY: the training crops are 32 columns of the image resized to 64 high
TIME_CROP = ["data/transforms=time_crop", "data.transforms.crop_width=32", "data.fold=0"]


@pytest.fixture(scope="module")
def mixed_root(demo_root, tmp_path_factory):
    """12 images per demo genre (96x72), a quarter at half the width, a quarter lower (96x48: a wider
    aspect) and, in each genre, one 20 px wide: 18 columns at 64 px high, narrower than a training crop."""
    root = tmp_path_factory.mktemp("mixed") / "spectrograms"
    for genre in sorted(path for path in demo_root.iterdir() if path.is_dir()):
        (root / genre.name).mkdir(parents=True)
        for i, path in enumerate(sorted(genre.glob("*.jpg"))[:12]):
            image = Image.open(path)
            width, height = image.size
            image = [
                image,
                image.resize((width // 2, height)),
                image.resize((width, height * 2 // 3)),
                image.crop((0, 0, 20, height)) if i == 3 else image,
            ][i % 4]
            image.save(root / genre.name / path.name, quality=95)
    return root


@pytest.fixture(scope="module")
def mixed_run(mixed_root, tmp_path_factory):
    run = tmp_path_factory.mktemp("mixed_run") / "run"
    summary = train(compose_train([*TINY, f"data.root={mixed_root}", *TIME_CROP, "data.resident=true"], run))
    return run, summary


def check_evaluation_batches(cfg) -> None:
    """The test loader gives every image once, in the split's order, whole: batches of one width each."""
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    batches = list(datamodule.test_dataloader())
    assert torch.cat([labels for _, labels in batches]).tolist() == [y for _, y in datamodule.split.test]
    widths = {images.shape[-1] for images, _ in batches}
    assert len(widths) > 2 and all(images.shape[-2] == 64 for images, _ in batches)


def check_trained(summary: dict) -> None:
    assert summary["complete"]
    fold = summary["folds"][0]
    assert all(math.isfinite(fold[key]) for key in ("val/loss", "test/loss", "test/nll_calibrated"))


def test_resident_set_trains_and_evaluates_images_of_mixed_sizes(mixed_run, mixed_root, tmp_path):
    run, summary = mixed_run
    check_trained(summary)
    check_evaluation_batches(compose_train([*TINY, f"data.root={mixed_root}", *TIME_CROP], tmp_path / "x"))


def test_loaders_train_and_evaluate_images_of_mixed_sizes(mixed_root, tmp_path):
    cfg = compose_train(
        [*TINY, f"data.root={mixed_root}", *TIME_CROP, "data.resident=false"], tmp_path / "run"
    )
    check_trained(train(cfg))
    check_evaluation_batches(cfg)


def test_predict_and_eval_score_images_of_mixed_sizes_as_one_at_a_time(
    entry, mixed_run, mixed_root, tmp_path
):
    run, _ = mixed_run
    rows = {}
    for batch_size in (1, 16):
        output = tmp_path / f"batch_{batch_size}.csv"
        args = [f"ckpt={run}", f"image={mixed_root}", f"batch_size={batch_size}", "precision='32'"]
        result = entry("predict.py", *args, f"output={output}")
        assert result.code == 0, result.err
        with open(output, newline="") as table:
            rows[batch_size] = {row["file"]: row for row in csv.DictReader(table)}
    assert len(rows[1]) == 84 and rows[1].keys() == rows[16].keys()
    for name, row in rows[16].items():
        assert row["error"] == "" and row["genre"] == rows[1][name]["genre"]
        assert float(row["probability"]) == pytest.approx(float(rows[1][name]["probability"]), abs=1e-4)
    out = tmp_path / "eval"
    result = entry("eval.py", f"ckpt={run}", f"images={mixed_root}", "precision='32'", f"hydra.run.dir={out}")
    assert result.code == 0, result.err
    report = json.loads((out / "eval.json").read_text())
    right = sum(row["genre"] == Path(name).parent.name for name, row in rows[1].items())
    assert report["images"] == 84 and report["ensemble"]["acc"] == pytest.approx(right / 84)
