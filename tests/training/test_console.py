"""What a user sees of a training run on the console: the project's lines and the progress bar, no library
noise, and no warning."""

import os
import subprocess
import sys

from conftest import ROOT, TINY

from genre_lightning.run_folder.layout import RUN_LOCK, SPLIT_FILE


def test_a_tiny_training_prints_no_warning_and_runs_in_the_default_run_folder(demo_root, tmp_path):
    # from another folder, as a user would, with Hydra's default run folder (logs/train/runs/<time>) and
    # the progress bar on; every logger (MLflow sets up its database, and imports much, on first use)
    overrides = [o for o in TINY if "enable_progress_bar" not in o]
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            *overrides,
            f"data.root={demo_root}",
            "data.fold=0",
            "logger=many",
        ],
        cwd=tmp_path,
        # CPU only, as CI: on a GPU machine Lightning rightly hints that the GPU goes unused
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # Lightning's warnings and Python's would land on stderr; the project logs to stdout
    assert proc.stderr == ""
    noises = ("Warning", "Seed set", "GPU available", "Tip:", "LeafSpec", "v_num", "Restoring states")
    for noise in (*noises, "mlflow", "alembic"):
        assert noise not in proc.stdout, noise
    # the epoch's log line has a line of its own, not the end of the bar's (the bar redraws itself after
    # a carriage return); the bar counts epochs as the log does
    [logged] = [
        part for part in proc.stdout.replace("\r", "\n").split("\n") if "epoch 1/1: train loss" in part
    ]
    assert logged.startswith("[") and "genre_lightning.training.callbacks.progress" in logged, logged
    assert "epoch 1/1: 100%" in proc.stdout
    [run] = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert {RUN_LOCK, SPLIT_FILE, ".hydra", "train.log", "cv_summary.json", "csv", "mlflow.db"} <= {
        p.name for p in run.iterdir()
    }


def test_without_the_sweeps_extra_hydra_scans_our_plugins_quietly():
    # `pip install -e .` (the quick start) has no Optuna or hydra-submitit-launcher, and Hydra imports every
    # module under hydra_plugins for every command: ours must import without them, quietly (the sweeper
    # imports Optuna only when a sweep starts), and be the plugins Hydra registers with them (the test
    # environment has them)
    without = (
        "import importlib.abc, sys\n"
        "class Missing(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith(('optuna', 'sqlalchemy', 'hydra_plugins.hydra_submitit_launcher',\n"
        "                            'submitit')):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Missing())\n"
        "from hydra.plugins.launcher import Launcher\n"
        "from hydra.plugins.sweeper import Sweeper\n"
        "import hydra_plugins.genre_lightning_plugins.shared_study_sweeper as s\n"
        "import hydra_plugins.genre_lightning_plugins.slurm_launcher as l\n"
        "assert issubclass(s.SharedStudySweeper, Sweeper) and not issubclass(l.SlurmLauncher, Launcher)\n"
        "assert 'optuna' not in sys.modules\n"
    )
    with_extra = (
        "from hydra.core.plugins import Plugins\n"
        "names = Plugins.instance().class_name_to_class\n"
        "assert 'hydra_plugins.genre_lightning_plugins.shared_study_sweeper.SharedStudySweeper' in names\n"
        "assert 'hydra_plugins.genre_lightning_plugins.slurm_launcher.SlurmLauncher' in names\n"
    )
    for code in (without, with_extra):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
