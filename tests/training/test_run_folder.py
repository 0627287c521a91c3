"""A run folder belongs to one training process: claimed before anything is written into it."""

import pytest
from conftest import TINY
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from genre_lightning.compose import train_config
from genre_lightning.errors import UserError
from genre_lightning.run_folder import lock
from genre_lightning.run_folder.layout import RUN_LOCK, SPLIT_FILE, RunFolder
from genre_lightning.run_folder.lock import claim, release
from genre_lightning.run_folder.records import keep_split
from genre_lightning.training.callbacks.hydra import ClaimRunFolder


def test_a_second_run_given_a_folder_in_use_stops_before_writing_anything(
    entry, held_elsewhere, demo_root, tmp_path
):
    run = tmp_path / "run"
    pid = held_elsewhere(
        f"from genre_lightning.run_folder.lock import claim\nclaim({str(run)!r}, resume=False)"
    )
    result = entry(
        "train.py",
        *TINY,
        f"data.root={demo_root}",
        "data.fold=0",
        f"hydra.run.dir={run}",
        f"paths.log_dir={tmp_path}",
    )
    assert result.code == 2, result.out + result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith(f"error: {run}: a training process is running there (pid {pid} on ")
    # neither Hydra's config and log nor anything of training: the first run's files are left alone
    assert [p.name for p in run.iterdir()] == [RUN_LOCK]


def test_resuming_a_folder_that_a_process_is_running_in_is_refused(held_elsewhere, tmp_path):
    run = tmp_path / "run"
    claim(run, resume=False)
    release(run)  # that run stopped: it may be resumed, once
    pid = held_elsewhere(
        f"from genre_lightning.run_folder.lock import claim\nclaim({str(run)!r}, resume=True)"
    )
    with pytest.raises(UserError, match=rf"a training process is running there \(pid {pid} on "):
        claim(run, resume=True)


def test_the_default_run_folder_is_claimed_before_hydra_writes_there(tmp_path, monkeypatch):
    # as `python train.py` from tmp_path: Hydra calls the callback before it sets HydraConfig, and the
    # default hydra.run.dir needs it (logs/ under the working folder, then the time)
    monkeypatch.chdir(tmp_path)
    cfg = train_config(with_hydra=True)
    HydraConfig.instance().cfg = None
    ClaimRunFolder().on_run_start(config=cfg)
    run = tmp_path / "logs" / "train" / "runs"
    [folder] = run.iterdir()
    try:
        # the folder Hydra's run_job goes on to use: ${now:} resolves once per config
        assert folder == tmp_path / OmegaConf.select(cfg, "hydra.run.dir")
        assert [p.name for p in folder.iterdir()] == [RUN_LOCK] and folder in lock._held
    finally:
        release(folder)


def test_a_folder_a_failed_start_left_is_claimed_again_a_run_never(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / RUN_LOCK).write_text("pid 1 on elsewhere")
    (run / "train.log").write_text("error: ...")
    claim(run, resume=False)
    release(run)
    (run / SPLIT_FILE).write_text("{}")
    with pytest.raises(UserError, match="already holds a run"):
        claim(run, resume=False)


@pytest.mark.parametrize(
    "mistake, message",
    [
        (
            ["data.batch_size=abc"],
            "error: data.batch_size='abc': must be a whole number; fix data.batch_size",
        ),
        (
            ["data.batch_augment=[{_target_:genre_lightning.data.augment.SpecAugment,freq_masks:-3}]"],
            "error: data.batch_augment[0]: cannot build genre_lightning.data.augment.SpecAugment "
            "(freq_masks=-3: must be a whole number >= 0)",
        ),
        (
            ["data.batch_augment=[{_target_:nope.Nope}]"],
            "error: data.batch_augment[0]: cannot build nope.Nope",
        ),
        (
            ["data.test_fraction=abc"],
            "error: data.test_fraction='abc': must be a number; fix data.test_fraction",
        ),
        (
            ["model.dropout=abc"],
            "error: model: cannot build genre_lightning.models.classifier.GenreClassifier",
        ),
        (["trainer.devices=abc"], "error: trainer: cannot build lightning.pytorch.Trainer (`devices`"),
        (["trainer.max_epochs=abc"], "error: trainer.max_epochs=abc: train at least 1 epoch"),
        # found only when the demo set is made, after the claim: the folder goes again
        (
            ["data.root=${hydra:runtime.cwd}/missing", "+data.prepare.per_class=0"],
            "error: data.prepare: cannot",
        ),
    ],
)
def test_a_value_mistake_is_one_line_and_leaves_no_run_folder(entry, demo_root, tmp_path, mistake, message):
    run = tmp_path / "run"
    result = entry(
        "train.py",
        *TINY,
        f"data.root={demo_root}",
        f"hydra.run.dir={run}",
        f"paths.log_dir={tmp_path}",
        *mistake,
    )
    assert result.code == 2, result.out + result.err
    assert result.err.startswith(message) and len(result.err.strip().splitlines()) == 1, result.err
    assert not run.exists()


@pytest.mark.parametrize(
    "saved",
    ['{"classes": ["A"], "test": [["a.jpg", "0"]], "folds": []}', '{"classes": "A"}', "[1, 2]", "{torn"],
)
def test_resuming_reads_the_saved_split_as_data_of_its_shape(tmp_path, saved):
    split = {"classes": ["A"], "test": [["a.jpg", 0]], "folds": [[["b.jpg", 0]]]}
    run = RunFolder(tmp_path)
    keep_split(run, split, resume=False)
    keep_split(run, split, resume=True)  # the same split: nothing to say
    run.split.write_text(saved)
    with pytest.raises(
        UserError, match=r"split.json: not a split written by train.py; restore the run's own"
    ):
        keep_split(run, split, resume=True)
