"""Stopped runs: each finished fold kept on disk at once, `python train.py resume=<run>` finishes the run,
and Ctrl-C or SIGTERM says how. Through the real entry point: a run to kill or to stop with a signal in a
process of its own, the resumes in this process (conftest's entry runs train.py as its command line does)."""

import json
import logging
import shutil
import signal
import subprocess
import sys
import time

import lightning.pytorch as pl
import pytest
import torch
from conftest import ROOT, TINY, built_once, compose_train
from omegaconf import open_dict

from genre_lightning.errors import UserError
from genre_lightning.predict.ensemble import find_checkpoints
from genre_lightning.training.kfold import train

# 8 images per genre: 2 held out, 3 per fold
SMALL = [*TINY, "data.max_per_class=8", "data.batch_size=8"]


def start(*args: str, log_dir) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "train.py", *args, f"paths.log_dir={log_dir}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # a shell without job control starts background jobs (CI steps, `cmd &`) with SIGINT ignored, and
        # Python then installs no Ctrl-C handler: start the run as from a terminal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(proc: subprocess.Popen, *paths, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        assert proc.poll() is None, f"ended before {paths}:\n{proc.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, f"no {paths} after {timeout} s"
        time.sleep(0.05)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=900)
    return proc.returncode, out


def test_a_run_killed_mid_fold_resumes_with_the_same_split_to_a_complete_summary(
    demo_root, trained_run, tmp_path, entry
):
    runs = tmp_path / "runs"
    run = runs / "b-killed"  # after the finished run below, by name
    (runs / "a-finished").parent.mkdir()
    (runs / "a-finished").symlink_to(trained_run)
    proc = start(
        *SMALL, f"data.root={demo_root}", "trainer.max_epochs=3", f"hydra.run.dir={run}", log_dir=tmp_path
    )
    # fold 0 finished, and fold 1 has finished an epoch of its three
    wait_for(proc, run / "fold_0" / "result.json", run / "fold_1" / "checkpoints" / "last.ckpt")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert not (run / "fold_1" / "result.json").exists(), "fold 1 finished before the kill: nothing to resume"

    # what was finished is on disk, and marked unfinished for prediction
    summary = json.loads((run / "cv_summary.json").read_text())
    assert summary["complete"] is False and [f["fold"] for f in summary["folds"]] == [0]
    assert summary["folds"][0] == json.loads((run / "fold_0" / "result.json").read_text())
    with pytest.raises(UserError, match=rf"the run has not finished .*python train.py resume={run}"):
        find_checkpoints(run, runs)
    assert find_checkpoints("latest", runs)[0].is_relative_to(runs / "a-finished")

    kept = {
        name: (run / name).read_bytes() for name in ("split.json", ".hydra/config.yaml", "fold_0/result.json")
    }
    # the resumes in this process (entry): a start-up of their own would check nothing more
    log_dir = f"paths.log_dir={tmp_path}"
    refused = entry("train.py", f"resume={run}", "trainer.max_epochs=5", "seed=7", log_dir)
    assert refused.code == 2, refused.out + refused.err
    assert refused.err.strip().splitlines()[-1] == (
        f"error: resume={run}: seed, trainer.max_epochs would differ from the run's config "
        f"({run}/.hydra/config.yaml); resume without them, or start a new run"
    )

    resumed = entry("train.py", f"resume={run}", log_dir)
    out = resumed.out + resumed.err
    assert resumed.code == 0, out[-3000:]
    assert "epoch 1/3" not in out, "fold 1 continued where it stopped, not from the start"
    assert "fold 0: finished before, kept" in out
    assert f"fold 1: continuing from {run}/fold_1/checkpoints/last.ckpt" in out
    assert {name: (run / name).read_bytes() for name in kept} == kept, "same split, config and fold 0"
    summary = json.loads((run / "cv_summary.json").read_text())
    assert summary["complete"] is True and [f["fold"] for f in summary["folds"]] == [0, 1]
    assert summary["folds"][1]["epochs"] == 3
    assert [p.relative_to(run).as_posix() for p in find_checkpoints(run, runs)] == [
        "fold_0/checkpoints/best.ckpt",
        "fold_1/checkpoints/best.ckpt",
    ]
    assert find_checkpoints("latest", runs)[0].is_relative_to(run)


@pytest.mark.parametrize("stop, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_run_prints_the_command_that_finishes_it(demo_root, tmp_path, stop, status):
    run = tmp_path / "run"
    proc = start(
        *SMALL,
        f"data.root={demo_root}",
        "data.fold=0",
        "trainer.max_epochs=1000",
        f"hydra.run.dir={run}",
        log_dir=tmp_path,
    )
    wait_for(proc, run / "fold_0" / "checkpoints" / "last.ckpt")
    # once: a stop is never lost, wherever it lands (the next test)
    proc.send_signal(stop)
    code, out = finish(proc)
    assert code == status, out[-3000:]
    assert f"stopped; finish this run with: python train.py resume={run}" in out


# A stop landing in a fork's callbacks, as when a DataLoader starts its workers: Python can only print
# "Exception ignored in ..." there (logging's _releaseLock, here our own callback) and go on
LANDS_IN_A_FORK = """
import os, signal, time
from genre_lightning.training.interrupt import stop_signals
armed = []
os.register_at_fork(after_in_parent=lambda: armed and os.kill(os.getpid(), signal.SIGTERM))
with stop_signals() as signals:
    try:
        armed.append(True)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        armed.clear()
        os.waitpid(pid, 0)
        time.sleep(60)
        print("not stopped")
    except KeyboardInterrupt:
        print("stopped by", sorted(set(signals)))
"""


def test_a_stop_that_lands_where_python_ignores_exceptions_still_stops():
    proc = subprocess.run(
        [sys.executable, "-c", LANDS_IN_A_FORK], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert (proc.stdout, proc.stderr) == (f"stopped by [{int(signal.SIGTERM)}]\n", "")


@pytest.mark.parametrize("callbacks", [["callbacks=default"], ["callbacks=ema", "callbacks.ema.decay=0.5"]])
def test_a_fold_continued_from_its_last_checkpoint_ends_as_if_never_stopped(demo_root, tmp_path, callbacks):
    """Weights, optimizer, scheduler, epoch and the random generators (shuffles, crops, dropout) come
    back from last.ckpt: the continued fold ends bit-identical to one that ran through (fp32); with
    callbacks=ema the weights' moving average comes back too."""
    common = [*SMALL, f"data.root={demo_root}", "data.fold=0", "trainer.precision=32-true", *callbacks]
    train(compose_train([*common, "trainer.max_epochs=2"], tmp_path / "through"))
    stopped = tmp_path / "stopped"
    train(compose_train([*common, "trainer.max_epochs=1"], stopped))
    # as if killed after the first epoch's checkpoint, before the fold's result was written
    (stopped / "fold_0" / "result.json").unlink()
    cfg = compose_train([*common, "trainer.max_epochs=2"], stopped)
    with open_dict(cfg):
        cfg.resume = str(stopped)
    assert train(cfg)["folds"][0]["epochs"] == 2

    def weights(run):
        return torch.load(run / "fold_0" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]

    through, continued = weights(tmp_path / "through"), weights(stopped)
    assert through.keys() == continued.keys()
    assert all(torch.equal(through[name], continued[name]) for name in through)


class StopAt(pl.Callback):
    """The KeyboardInterrupt of Ctrl-C at one point of the run: in ``hook`` of (fold, epoch[, batch])."""

    def __init__(self, hook: str, fold: int, epoch: int, batch: int = 0):
        self.hook, self.at = hook, (fold, epoch, batch)

    def _stop(self, trainer, hook: str, batch: int = 0) -> None:
        if hook == self.hook and (trainer.datamodule.fold, trainer.current_epoch, batch) == self.at:
            raise KeyboardInterrupt

    def on_train_start(self, trainer, pl_module):
        self._stop(trainer, "train_start")

    def on_train_epoch_start(self, trainer, pl_module):
        self._stop(trainer, "epoch_start")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._stop(trainer, "batch_end", batch_idx)

    def on_train_epoch_end(self, trainer, pl_module):
        # after the epoch's log line, before its checkpoints (Lightning calls checkpoint callbacks last)
        self._stop(trainer, "epoch_end")


# 2 folds of 2 epochs at 32 px: a few seconds per fold
EXACT = [
    *SMALL,
    "data.image_size=32",
    "data.resize_size=32",
    "trainer.max_epochs=2",
    "trainer.precision=32-true",
]


def final_state(run) -> dict:
    """What a run ends with: each fold's last.ckpt (weights, optimizer, scheduler, random states), result."""
    state = {}
    for fold in (0, 1):
        ckpt = torch.load(run / f"fold_{fold}" / "checkpoints" / "last.ckpt", weights_only=False)
        state[f"fold {fold} weights"] = ckpt["state_dict"]
        state[f"fold {fold} optimizer"] = ckpt["optimizer_states"]
        state[f"fold {fold} scheduler"] = ckpt["lr_schedulers"]
        state[f"fold {fold} random state"] = ckpt["callbacks"]["RandomState"]
        result = json.loads((run / f"fold_{fold}" / "result.json").read_text())
        state[f"fold {fold} result"] = {k: v for k, v in result.items() if k != "checkpoint"}
    return state


def assert_same(through: dict, resumed: dict) -> None:
    def same(a, b) -> bool:
        if isinstance(a, torch.Tensor):
            return torch.equal(a, b)
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b

    assert through.keys() == resumed.keys()
    assert [name for name in through if not same(through[name], resumed[name])] == []


@pytest.fixture(scope="module")
def uninterrupted(demo_root, tmp_path_factory):
    def build(folder):
        train(compose_train([*EXACT, f"data.root={demo_root}"], folder / "run"))

    return final_state(built_once(tmp_path_factory, "through", build) / "run")


@pytest.mark.parametrize(
    "stop, damaged",
    [
        pytest.param(StopAt("epoch_end", fold=0, epoch=0), False, id="after-an-epoch-log-line"),
        pytest.param(StopAt("epoch_start", fold=0, epoch=1), False, id="after-an-epoch-checkpoint"),
        pytest.param(StopAt("batch_end", fold=0, epoch=1, batch=0), False, id="mid-epoch"),
        pytest.param(StopAt("train_start", fold=1, epoch=0), False, id="between-folds"),
        # last.ckpt cut short (a full disk, a copy): the fold starts over, and still ends the same
        pytest.param(StopAt("epoch_start", fold=0, epoch=1), True, id="damaged-last-checkpoint"),
    ],
)
def test_a_run_stopped_anywhere_resumes_to_the_same_end(
    demo_root, tmp_path, caplog, uninterrupted, stop, damaged
):
    run = tmp_path / "run"
    cfg = compose_train([*EXACT, f"data.root={demo_root}"], run)
    with open_dict(cfg):
        cfg.callbacks.stop = {"_target_": f"{__name__}.StopAt", "hook": stop.hook}
        cfg.callbacks.stop.update(zip(["fold", "epoch", "batch"], stop.at))
    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as stopped:
            train(cfg)
    finally:
        signal.signal(signal.SIGINT, previous)  # Lightning ignores Ctrl-C once it stops
    assert stopped.value.code == 130
    last = run / "fold_0" / "checkpoints" / "last.ckpt"
    if damaged:
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    cfg = compose_train([*EXACT, f"data.root={demo_root}"], run)
    with open_dict(cfg):
        cfg.resume = str(run)
    # the logger's own level: an in-process Hydra run of an earlier test may have left the root's at ERROR
    with caplog.at_level(logging.WARNING, logger="genre_lightning"):
        train(cfg)
    assert_same(uninterrupted, final_state(run))
    damage = f"fold 0: {last} is damaged (cut short); training the fold again from its start"
    assert (damage in caplog.text) == damaged
    assert sorted(path.name for path in last.parent.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_a_moved_or_copied_run_folder_resumes_on_the_data_path_it_started_on(
    demo_root, tmp_path, held_elsewhere, entry
):
    run = tmp_path / "run"
    proc = start(
        *SMALL, f"data.root={demo_root}", "data.fold=0", "trainer.max_epochs=3", f"hydra.run.dir={run}",
        log_dir=tmp_path,
    )  # fmt: skip
    wait_for(proc, run / "fold_0" / "checkpoints" / "last.ckpt")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    # data.resident=auto chose to keep this small set in memory, and the run folder says so
    assert json.loads((run / "data_path.json").read_text()) == {"resident": True}
    moved, copy = tmp_path / "elsewhere" / "moved", tmp_path / "copy"
    moved.parent.mkdir()
    run.rename(moved)
    shutil.copytree(moved, copy)
    # the moved folder is being resumed by another process meanwhile: the copy's lock is its own
    held_elsewhere(
        f"from genre_lightning.files import hold_lock\nlock = hold_lock({str(moved / 'run.lock')!r})"
    )
    # refused before it claims the folder: in this process
    refused = entry("train.py", f"resume={moved}", f"paths.log_dir={tmp_path}")
    assert refused.code == 2, refused.out + refused.err
    assert "a training process is running there" in refused.err.strip().splitlines()[-1], refused.err
    # as if the run had started on the loaders: it continues on them, whatever memory is free now; a resume
    # may set data.resident_share (it only says whether a kept set still fits)
    (copy / "data_path.json").write_text('{"resident": false}')
    resumed = entry("train.py", f"resume={copy}", "data.resident_share=1", f"paths.log_dir={tmp_path}")
    out = resumed.out + resumed.err
    assert resumed.code == 0, out[-3000:]
    assert f"fold 0: continuing from {copy}/fold_0/checkpoints/last.ckpt" in out
    assert "decoding per epoch, as this run chose when it started" in out
    assert "dirpath has changed" not in out, "the best checkpoint's score came along"
    summary = json.loads((copy / "cv_summary.json").read_text())
    assert summary["complete"] and summary["folds"][0]["epochs"] == 3
    assert find_checkpoints(copy, tmp_path) == [copy / "fold_0/checkpoints/best.ckpt"]
