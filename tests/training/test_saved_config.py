"""A resume trains with the config its run started with: run_config.json (the resolved config and its
digest) is written as the run starts, and a resume refuses an edited config or a foreign ``_target_``."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import TINY, built_once, run_script
from omegaconf import OmegaConf


@pytest.fixture(scope="session")
def finished(demo_root, tmp_path_factory) -> Path:
    """A finished one-fold, one-epoch run, started through train.py."""

    def build(folder: Path) -> None:
        args = [*TINY, "data.image_size=32", "data.resize_size=32", "data.fold=0", f"data.root={demo_root}"]
        where = [f"paths.log_dir={folder}", f"hydra.run.dir={folder / 'run'}"]
        assert run_script("train.py", *args, *where) == 0

    return built_once(tmp_path_factory, "saved_config", build) / "run"


@pytest.fixture
def run(finished, tmp_path) -> Path:
    """A copy of it, for the test to edit (a run folder copied elsewhere resumes as it would in place)."""
    return Path(shutil.copytree(finished, tmp_path / "run", symlinks=True))


def edit_config(run, **values) -> None:
    path = run / ".hydra" / "config.yaml"
    config = OmegaConf.load(path)
    for key, value in values.items():
        OmegaConf.update(config, key, value)
    OmegaConf.save(config, path)


def last_line(result) -> str:
    return result.err.strip().splitlines()[-1]


def test_a_run_keeps_its_resolved_config(run):
    saved = json.loads((run / "run_config.json").read_text())
    assert saved["config"]["model"]["optimizer"]["lr"] == 0.01
    assert saved["config"]["data"]["root"].endswith("spectrograms")  # resolved
    assert len(saved["digest"]) == 64


def test_a_resume_refuses_an_edited_config_naming_the_keys(entry, run):
    edit_config(
        run, **{"model.optimizer.lr": 0.77, "model.dropout": 0.05, "trainer.enable_progress_bar": True}
    )
    result = entry("train.py", f"resume={run}")
    assert result.code == 2, result.err[-3000:]
    assert last_line(result) == (
        f"error: resume={run}: model.dropout, model.optimizer.lr in .hydra/config.yaml differ from the "
        f"config the run started with ({run}/run_config.json); put them back, or start a new run"
    )


def test_a_resume_builds_no_target_of_its_own(entry, run):
    edit_config(run, **{"model.optimizer._target_": "builtins.exec"})
    result = entry("train.py", f"resume={run}")
    assert result.code == 2, result.err[-3000:]
    assert last_line(result) == (
        f"error: {run}/.hydra/config.yaml: model.optimizer._target_=builtins.exec is not a target of the "
        "project's configs; refusing to build it (restore the file, or start a new run)"
    )


def test_a_resume_refuses_an_edited_run_config(entry, run):
    path = run / "run_config.json"
    saved = json.loads(path.read_text())
    saved["config"]["model"]["optimizer"]["lr"] = 0.77
    path.write_text(json.dumps(saved))
    edit_config(run, **{"model.optimizer.lr": 0.77})
    result = entry("train.py", f"resume={run}")
    assert result.code == 2, result.err[-3000:]
    assert last_line(result) == (
        f"error: {path}: edited since the run started (its digest differs); start a new run"
    )


def test_a_run_without_its_run_config_is_refused(entry, run):
    (run / "run_config.json").unlink()
    result = entry("train.py", f"resume={run}")
    assert result.code == 2, result.err[-3000:]
    assert last_line(result) == (
        f"error: {run}/run_config.json: not found, so the run's config cannot be verified; start a new run"
    )
