"""Stopped runs: each finished fold kept on disk at once, `python train.py resume=<run>` finishes the run,
and Ctrl-C or SIGTERM says how. Through the real entry point, in its own processes."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, TINY, compose_train
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


def interrupt(proc: subprocess.Popen, stop: signal.Signals, every: float = 10) -> tuple[int, str]:
    """Send ``stop``, again every ``every`` seconds while the run goes on, as a user presses Ctrl-C again:
    one that lands while Lightning writes a checkpoint is now and then lost (about 1 in 10 here)."""
    for _ in range(10):
        proc.send_signal(stop)
        try:
            out, _ = proc.communicate(timeout=every)
            return proc.returncode, out
        except subprocess.TimeoutExpired:
            continue
    return finish(proc)


def test_a_run_killed_mid_fold_resumes_with_the_same_split_to_a_complete_summary(
    demo_root, trained_run, tmp_path
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
    code, out = finish(start(f"resume={run}", "trainer.max_epochs=5", "seed=7", log_dir=tmp_path))
    assert code == 2, out
    assert out.strip().splitlines()[-1] == (
        f"error: resume={run}: seed, trainer.max_epochs would differ from the run's config "
        f"({run}/.hydra/config.yaml); resume without them, or start a new run"
    )

    code, out = finish(start(f"resume={run}", log_dir=tmp_path))
    assert code == 0, out[-3000:]
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
    code, out = interrupt(proc, stop)
    assert code == status, out[-3000:]
    assert f"stopped; finish this run with: python train.py resume={run}" in out


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
