import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_predict(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "predict.py"), *args], capture_output=True, text=True, cwd=ROOT)


def test_predict_prints_genre_and_every_probability(trained_run, demo_root):
    summary = json.loads((trained_run / "cv_summary.json").read_text())
    ckpt = trained_run / summary["folds"][0]["checkpoint"]
    image = sorted((demo_root / "Punk").glob("*.jpg"))[0]
    result = run_predict(f"ckpt={ckpt}", f"image={image}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{image}: ")
    probs = {line.split()[0]: float(line.split()[1].rstrip("%")) for line in lines[1:]}
    assert set(probs) == set(summary["classes"])
    assert sum(probs.values()) == pytest.approx(100, abs=0.5)
    assert lines[0].split(": ")[1] == max(probs, key=probs.get)


@pytest.mark.parametrize(
    "which, message",
    [("image", "image not found"), ("ckpt", "checkpoint not found"), ("garbage", "not a genre-lightning checkpoint")],
)
def test_predict_errors_are_one_line(trained_run, demo_root, tmp_path, which, message):
    ckpt = next(trained_run.glob("fold_0/checkpoints/*.ckpt"))
    image = next(demo_root.glob("Rock/*.jpg"))
    if which == "image":
        image = tmp_path / "missing.jpg"
    elif which == "ckpt":
        ckpt = tmp_path / "missing.ckpt"
    else:
        ckpt = tmp_path / "garbage.ckpt"
        ckpt.write_bytes(b"\x00not a checkpoint")
    result = run_predict(f"ckpt={ckpt}", f"image={image}")
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_run_folder_ensembles_the_fold_models(trained_run, demo_root):
    import torch

    from genre_lightning.prediction import Ensemble, find_checkpoints

    checkpoints = find_checkpoints(trained_run, runs_dir=trained_run.parent)
    assert [p.parent.parent.name for p in checkpoints] == ["fold_0", "fold_1"]
    ensemble = Ensemble(checkpoints)
    images = torch.stack([ensemble.preprocess(p) for p in sorted(demo_root.glob("Folk/*.jpg"))[:3]])
    singles = [Ensemble([ckpt]).probabilities(images) for ckpt in checkpoints]
    assert torch.allclose(ensemble.probabilities(images), (singles[0] + singles[1]) / 2, atol=1e-6)
    assert not torch.allclose(singles[0], singles[1]), "folds are different models"


def test_latest_picks_the_newest_finished_run(trained_run, demo_root):
    image = next(demo_root.glob("Pop/*.jpg"))
    result = run_predict("ckpt=latest", f"runs_dir={trained_run.parent}", f"image={image}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{image}: ")
    empty = run_predict("ckpt=latest", f"runs_dir={trained_run.parent / 'nothing'}", f"image={image}")
    assert empty.returncode == 2 and "no finished training run" in empty.stderr
