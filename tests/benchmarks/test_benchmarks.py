"""Every script under benchmarks/ runs on tiny settings (a few images, one repeat, a narrow resnet18 at 32 px)
as its docstring gives it, exits 0 and prints its table, through train.py's quiet console: the commands
docs/speed.md and docs/accuracy.md give cannot rot unseen. (measure.py, hardware.py and published_pipeline.py
are the scripts' modules, run through them; gpu.py runs through gpu_check.sh's CPU mode.)"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.benchmarks

# what Lightning prints at INFO, which train.py's console leaves out
LIBRARY_LINES = ("GPU available", "TPU available", "litlogger", "HPU available")
# experiment=fma_small, narrowed: the smallest model and images, one worker-less epoch
TINY_FMA = [
    "model.width=8",
    "data.image_size=32",
    "data.resize_size=32",
    "data.transforms.crop_width=24",
    "data.batch_size=8",
    "data.num_workers=0",
]


def run(*command: str, env: dict | None = None, timeout: float = 600) -> str:
    """What the command printed (stdout, then stderr), once it has exited 0 with no Lightning INFO line."""
    # the test's Python first on PATH, as in an activated environment: gpu_check.sh calls `python`
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    environment = {**os.environ, "PATH": path, **(env or {})}
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=environment)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert [line for line in out.splitlines() if any(word in line for word in LIBRARY_LINES)] == []
    return out


@pytest.fixture(scope="module")
def few_images(demo_root, tmp_path_factory) -> Path:
    """8 demo images per genre, enough for experiment=fma_small's test split and 5 folds: what every
    benchmark here trains and predicts on."""
    root = tmp_path_factory.mktemp("few") / "spectrograms"
    for genre in sorted(path for path in demo_root.iterdir() if path.is_dir()):
        (root / genre.name).mkdir(parents=True)
        for image in sorted(genre.iterdir())[:8]:
            shutil.copy(image, root / genre.name)
    return root


@pytest.mark.parametrize("resident", ["true", "false"])
def test_speed_times_the_data_path_the_config_gives(few_images, resident):
    out = run(
        sys.executable, "benchmarks/speed.py", "--folder", str(few_images), "--images", "14",
        "--arch", "resnet18", "--image-size", "32", "--batch-size", "4", "--workers", "0", "--repeat", "1",
        f"data.resident={resident}",
    )  # fmt: skip
    path = "resident" if resident == "true" else "loaders"
    assert f"data path {path}" in out
    rows = [line for line in out.splitlines() if line.startswith("| training epoch")]
    assert len(rows) == 4 and f"ours ({path}): Lightning" in rows[0], out[-3000:]
    assert "Lightning overhead over the plain loop" in out


def test_resident_prints_both_paths(few_images):
    out = run(
        sys.executable, "benchmarks/resident.py", "--folder", str(few_images), "--max-per-class", "8",
        "--epochs", "1", "--repeat", "1", *TINY_FMA,
    )  # fmt: skip
    assert "loaders (data.resident=false)" in out and "resident (data.resident=true)" in out
    assert "resident / loaders speed:" in out


def test_accuracy_prints_the_fold_table(few_images, tmp_path):
    out = run(
        sys.executable, "benchmarks/accuracy.py", "--folder", str(few_images), "--runs", str(tmp_path),
        "data.fold=0", "trainer.max_epochs=1", *TINY_FMA,
    )  # fmt: skip
    table = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")]
    header, _, fold, mean = table[:4]
    assert (header, fold, mean) == ("fold", "0", "mean ± std"), out[-3000:]
    [run_dir] = tmp_path.iterdir()
    assert (run_dir / "cv_summary.json").is_file()


def test_gpu_check_runs_every_row_on_the_cpu(few_images, tmp_path):
    out = run(
        "bash", "benchmarks/gpu_check.sh", "run",
        env={"DEVICE": "cpu", "DATA": str(few_images), "PER_GENRE": "8", "OUT": str(tmp_path)},
    )  # fmt: skip
    table = (tmp_path / "gpu.md").read_text()
    assert "(CPU: code paths only, not the GPU figures)" in table
    for row in ("pre-loaded batches (the limit)", "resident (data.resident=true)", "decoding loader",
                "cached loader", "whole 2-fold run", "decode=batched", "decode=pil"):  # fmt: skip
        [line] = [line for line in table.splitlines() if row in line]
        assert "not run" not in line and "error" not in line, line
    assert f"results: {tmp_path}" in out
