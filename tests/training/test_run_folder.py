"""A run folder belongs to one training process: claimed before anything is written into it."""

import pytest
from conftest import TINY

from genre_lightning.constants import RUN_LOCK
from genre_lightning.errors import UserError
from genre_lightning.training.run_folder import claim, keep_split, release


def test_a_second_run_given_a_folder_in_use_stops_before_writing_anything(
    entry, held_elsewhere, demo_root, tmp_path
):
    run = tmp_path / "run"
    pid = held_elsewhere(
        f"from genre_lightning.training.run_folder import claim\nclaim({str(run)!r}, resume=False)"
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
    assert result.err.startswith(f"error: {run}: already holds a run (pid {pid} on ")
    # neither Hydra's config and log nor anything of training: the first run's files are left alone
    assert [p.name for p in run.iterdir()] == [RUN_LOCK]


def test_resuming_a_folder_that_a_process_is_running_in_is_refused(held_elsewhere, tmp_path):
    run = tmp_path / "run"
    claim(run, resume=False)
    release(run)  # that run stopped: it may be resumed, once
    pid = held_elsewhere(
        f"from genre_lightning.training.run_folder import claim\nclaim({str(run)!r}, resume=True)"
    )
    with pytest.raises(UserError, match=rf"a training process is running there \(pid {pid} on "):
        claim(run, resume=True)


@pytest.mark.parametrize(
    "saved",
    ['{"classes": ["A"], "test": [["a.jpg", "0"]], "folds": []}', '{"classes": "A"}', "[1, 2]", "{torn"],
)
def test_resuming_reads_the_saved_split_as_data_of_its_shape(tmp_path, saved):
    split = {"classes": ["A"], "test": [["a.jpg", 0]], "folds": [[["b.jpg", 0]]]}
    keep_split(tmp_path, split, resume=False)
    keep_split(tmp_path, split, resume=True)  # the same split: nothing to say
    (tmp_path / "split.json").write_text(saved)
    with pytest.raises(
        UserError, match=r"split.json: not a split written by train.py; restore the run's own"
    ):
        keep_split(tmp_path, split, resume=True)
