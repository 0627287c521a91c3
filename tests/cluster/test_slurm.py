"""Sweeps on a live one-node SLURM cluster: fold jobs as a job array, compared with the local launcher."""

import subprocess
import sys

import pytest
from conftest import ROOT, TINY

pytestmark = pytest.mark.cluster


def test_probe(slurm, demo_root, tmp_path):
    for launcher in (["hydra/launcher=slurm"], ["hydra/launcher=slurm_cpu", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]):
        proc = subprocess.run(
            [sys.executable, "train.py", "-m", *TINY, "data.max_per_class=8", f"data.root={demo_root}", "data.fold=0,1",
             *launcher, f"hydra.sweep.dir={tmp_path / launcher[0][-3:] / 'sweep'}", f"paths.log_dir={tmp_path}"],
            cwd=ROOT, env=slurm.env, capture_output=True, text=True, timeout=240,
        )
        print(proc.returncode, proc.stdout[-3000:], proc.stderr[-5000:])
