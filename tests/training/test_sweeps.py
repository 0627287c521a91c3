"""Multiruns through the real entry point: grid and Optuna sweeps, fold jobs on submitit's local
executor merged into one run, DDP on two CPU processes, and what TensorBoard reads back."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT, TINY, compose_train
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import OmegaConf, read_write
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from genre_lightning.errors import UserError
from genre_lightning.predict.ensemble import find_checkpoints, load_classifier
from genre_lightning.run_folder.layout import RunFolder
from genre_lightning.training import sweep_cli, sweeps
from genre_lightning.training.kfold import train
from hydra_plugins.genre_lightning_plugins.search_space import parse
from hydra_plugins.genre_lightning_plugins.shared_study_sweeper import SharedStudySweeper

# 8 images per genre: 2 held out, 3 per fold, so each job trains in a second or two
SMALL = [*TINY, "data.max_per_class=8"]
METRICS = ("val/loss", "val/acc", "val/f1", "test/loss", "test/acc", "test/f1")
# DDP on two CPU processes (gloo): SyncBatchNorm needs GPUs, and bf16 is slow on CPU
DDP_ON_CPU = [
    "trainer=ddp",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.sync_batchnorm=false",
    "trainer.precision=32-true",
]


def train_py(*args: str, log_dir) -> str:
    """`python train.py ARGS`, the real entry point, with every run folder under log_dir."""
    proc = subprocess.run(
        [sys.executable, "train.py", *args, f"paths.log_dir={log_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def read_rows(sweep_dir) -> list[dict]:
    with open(RunFolder(sweep_dir).sweep_summary, newline="") as f:
        return list(csv.DictReader(f))


# fold_sweep (conftest.py): a 2-job grid over the folds on submitit's local executor, ranked by the
# validation loss


def test_grid_sweep_writes_a_summary_best_first(fold_sweep, tmp_path):
    shared, out = fold_sweep
    # a copy: the summaries by hand below rewrite it, and other tests read the shared sweep meanwhile
    sweep = Path(shutil.copytree(shared, tmp_path / "sweep", symlinks=True))
    assert (sweep / ".submitit").is_dir()
    rows = read_rows(sweep)
    assert sorted(row["job"] for row in rows) == ["0", "1"]
    for row in rows:
        summary = json.loads((sweep / row["job"] / "cv_summary.json").read_text())
        assert float(row["val/loss_mean"]) == pytest.approx(summary["metrics"]["val/loss_mean"])
        assert row["data.fold"] == row["job"]
    losses = [float(row["val/loss_mean"]) for row in rows]
    assert losses == sorted(losses)
    assert "sweep summary, best val/loss_mean first" in out

    # by hand: ranked the other way, then as the sweep ranked it (read from the jobs' saved configs)
    sweep_cli.main(["summary", str(sweep), "--direction", "maximize"])
    assert [row["job"] for row in read_rows(sweep)] == [row["job"] for row in reversed(rows)]
    sweep_cli.main(["summary", str(sweep)])
    assert read_rows(sweep) == rows


def test_fold_jobs_merge_into_the_sequential_run(fold_sweep, demo_root, tmp_path):
    # a copy: the merge by hand below rewrites it, and other tests read the shared sweep meanwhile
    sweep = Path(shutil.copytree(fold_sweep[0], tmp_path / "sweep", symlinks=True))
    merged = json.loads((sweep / "cv_summary.json").read_text())
    sequential_dir = tmp_path / "sequential"
    sequential = train(compose_train([*SMALL, f"data.root={demo_root}"], sequential_dir))
    assert merged.keys() == sequential.keys() and merged["classes"] == sequential["classes"]
    assert (sweep / "split.json").read_text() == (sequential_dir / "split.json").read_text()
    for parallel, alone in zip(merged["folds"], sequential["folds"], strict=True):
        assert parallel.keys() == alone.keys()
        assert parallel["checkpoint"] == f"{parallel['fold']}/{alone['checkpoint']}"
        # each fold is seeded alike whether it runs alone or after the others
        assert [parallel[m] for m in METRICS] == pytest.approx([alone[m] for m in METRICS])
    assert merged["metrics"] == pytest.approx(sequential["metrics"])

    # predict.py can ensemble the merged folds, and the merge can be redone by hand
    assert find_checkpoints(sweep, tmp_path) == [
        sweep / f"{k}/fold_{k}/checkpoints/best.ckpt" for k in (0, 1)
    ]
    sweep_cli.main(["aggregate", str(sweep)])
    assert json.loads((sweep / "cv_summary.json").read_text()) == merged


def test_event_files_hold_images_and_per_class_scores(fold_sweep):
    sweep, _ = fold_sweep
    for job in ("0", "1"):
        summary = json.loads((sweep / job / "cv_summary.json").read_text())
        fold = summary["folds"][0]
        events = EventAccumulator(str(sweep / job / f"fold_{job}")).Reload()
        tags = events.Tags()
        assert {"train/samples", "val/confusion_matrix", "test/confusion_matrix"} <= set(tags["images"])
        per_class = {
            f"val_per_genre/{score}/{name}"
            for score in ("precision", "recall", "f1")
            for name in summary["classes"]
        }
        assert per_class | {"train/lr", "val/acc"} <= set(tags["scalars"])

        # per-class scores of the final validation agree with the module's own metrics
        # (every genre has 3 validation images, so accuracy is the mean recall)
        def final(score, events=events, summary=summary):
            tags = [f"val_per_genre/{score}/{name}" for name in summary["classes"]]
            values = [events.Scalars(tag)[-1].value for tag in tags]
            return sum(values) / len(values)

        assert final("recall") == pytest.approx(fold["val/acc"], abs=1e-6)
        assert final("f1") == pytest.approx(fold["val/f1"], abs=1e-6)


def test_optuna_search_ranks_trials_that_tensorboard_can_compare(demo_root, tmp_path, entry, monkeypatch):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    # The documented command (docs/scale.md) run in a folder of its own, whose logs/ gets the sweep: with the
    # default paths.log_dir (${hydra:runtime.cwd}/logs) and hydra.sweep.dir, which the sweeper reads before
    # Hydra's first job. data.batch_size is fixed by SMALL, so Optuna samples lr, weight decay, dropout and
    # crop scale. Ranked by the validation loss: accuracies on 21 images tie too often to tell an order.
    monkeypatch.chdir(tmp_path)
    result = entry(
        "train.py", "hparams_search=optuna", "hydra.sweeper.n_trials=2", *SMALL, f"data.root={demo_root}",
        "data.fold=0", f"hydra.sweeper.storage='{storage}'", "hydra.sweeper.study_name=test",
        "optimized_metric=val/loss_mean", "hydra.sweeper.direction=minimize",
    )  # fmt: skip
    assert result.code == 0, result.out[-3000:] + result.err[-3000:]
    [sweep] = (tmp_path / "logs" / "multiruns").iterdir()
    rows = read_rows(sweep)
    losses = [float(row["val/loss_mean"]) for row in rows]
    assert len(rows) == 2 and losses[0] < losses[1]
    assert losses[0] == pytest.approx(OmegaConf.load(sweep / "optimization_results.yaml").best_value)

    study = optuna.load_study(study_name="test", storage=storage)
    assert [trial.state.name for trial in study.trials] == ["COMPLETE", "COMPLETE"]
    for row in rows:
        trial = study.trials[int(row["job"])]
        assert trial.value == pytest.approx(float(row["val/loss_mean"]))
        cfg = OmegaConf.load(sweep / row["job"] / ".hydra" / "config.yaml")
        assert cfg.model.optimizer.lr == pytest.approx(trial.params["model.optimizer.lr"])
        assert 0.0005 <= cfg.model.optimizer.lr <= 0.1 and 0.0 <= cfg.model.dropout <= 0.7
        # the sampled value is the one the job ran with (the train preset takes data.transforms.crop_scale)
        assert cfg.data.transforms.crop_scale == float(row["data.transforms.crop_scale"])

        # TensorBoard's HPARAMS tab: the trial's sampled settings beside its final metrics
        events = EventAccumulator(str(sweep / row["job"] / "fold_0")).Reload()
        assert events.Scalars("final/val/loss")[-1].value == pytest.approx(trial.value)
        plugin = events.PluginTagToContent("hparams")
        start = HParamsPluginData.FromString(plugin["_hparams_/session_start_info"]).session_start_info
        assert start.hparams["lr"].number_value == pytest.approx(cfg.model.optimizer.lr)
        assert start.hparams["dropout"].number_value == pytest.approx(cfg.model.dropout)
        assert start.hparams["fold"].number_value == 0 and start.hparams["arch"].string_value == "resnet18"
        experiment = HParamsPluginData.FromString(plugin["_hparams_/experiment"]).experiment
        # the fold's metrics and its calibration (temperature, ECE before and after) side by side
        calibration = ("val/temperature", "val/ece", "val/ece_calibrated", "test/ece", "test/ece_calibrated")
        expected = {f"final/{name}" for name in (*METRICS, *calibration, "test/nll_calibrated")}
        assert expected == {info.name.tag for info in experiment.metric_infos}

    # trials differ in more than the fold: they are not one cross-validation run
    with pytest.raises(UserError, match=r"differ in \['model.optimizer.lr'"):
        sweeps.aggregate_folds(sweep)
    assert not (sweep / "cv_summary.json").exists()


def test_a_search_joining_a_study_another_process_made_draws_values_of_its_own(demo_root, tmp_path, entry):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    overrides = ["hparams_search=optuna", *SMALL, f"data.root={demo_root}", "data.fold=0"]
    # another process has just made the study and is drawing its first trial: none is stored yet
    optuna.create_study(study_name="shared", storage=storage)
    result = entry(
        "train.py", *overrides, "hydra.sweeper.n_trials=1", f"hydra.sweeper.storage='{storage}'",
        "hydra.sweeper.study_name=shared", f"hydra.sweep.dir={tmp_path / 'sweep'}",
        f"paths.log_dir={tmp_path}",
    )  # fmt: skip
    assert result.code == 0, result.err[-3000:]
    [joined] = optuna.load_study(study_name="shared", storage=storage).trials

    # what the study's maker draws first with the configured seed: the joining process must not draw it again
    cfg = compose_train(overrides, tmp_path / "unused")
    space, fixed = parse([f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()] + overrides)
    maker = optuna.create_study(sampler=instantiate(cfg.hydra.sweeper.sampler)).ask()
    SharedStudySweeper._sample(maker, space, fixed)
    assert joined.params.keys() == maker.params.keys()
    assert joined.params["model.optimizer.lr"] != maker.params["model.optimizer.lr"]


def test_trials_asked_at_once_past_n_trials_are_failed_and_never_run():
    # two processes each saw room for one more trial of n_trials=2 and asked at the same moment: the study
    # numbered their trials 1 and 2; the one after the first n_trials is marked FAIL, not launched
    sweeper = SharedStudySweeper(sampler={}, direction="minimize", n_trials=2, n_jobs=1)
    study = optuna.create_study()
    first, here, elsewhere = study.ask(), study.ask(), study.ask()
    study.tell(first, 1.0)
    assert sweeper._within_n_trials(study, [elsewhere]) == []
    assert sweeper._within_n_trials(study, [here]) == [here]
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING", "FAIL"]
    # a failed trial (stopped) leaves the count: the trial after it is within n_trials
    again = study.ask()
    study.tell(here, state=optuna.trial.TrialState.FAIL)
    assert sweeper._within_n_trials(study, [again]) == [again]


def test_a_job_stopped_between_folds_is_ranked_as_unfinished(tmp_path):
    # job 1 was stopped: the summary of its folds so far is not a result to rank or merge
    sweep = tmp_path / "sweep"
    for job, (acc, complete) in enumerate([(0.5, True), (0.9, False)]):
        (sweep / str(job) / ".hydra").mkdir(parents=True)
        (sweep / str(job) / ".hydra" / "overrides.yaml").write_text(f"- data.fold={job}\n")
        metrics = {"val/acc_mean": acc, "val/acc_std": 0.0}
        summary = {"classes": ["A", "B"], "complete": complete, "folds": [], "metrics": metrics}
        (sweep / str(job) / "cv_summary.json").write_text(json.dumps(summary))
    sweeps.write_sweep_summary(sweep, "val/acc_mean")
    assert [(row["job"], row["val/acc_mean"]) for row in read_rows(sweep)] == [("0", "0.5"), ("1", "")]
    with pytest.raises(UserError, match=r"job\(s\) \['1'\] have not finished .* python train.py resume="):
        sweeps.aggregate_folds(sweep)


def test_ddp_on_two_cpu_processes(demo_root, tmp_path, entry):
    # batches of 8: each process gets 11 of the 21 training images
    overrides = [*SMALL, f"data.root={demo_root}", "data.fold=0", "data.batch_size=8"]
    run = tmp_path / "run"
    train_py(*overrides, *DDP_ON_CPU, f"hydra.run.dir={run}", log_dir=tmp_path)
    summary = json.loads((run / "cv_summary.json").read_text())
    ckpt = torch.load(run / summary["folds"][0]["checkpoint"], map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["class_names"] == summary["classes"]
    # predict.py ensembles the run's checkpoint, the one rank 0 wrote
    image = next((demo_root / "Rock").glob("*.jpg"))
    result = entry("predict.py", f"ckpt={run}", f"image={image}")
    assert result.code == 0 and image.name in result.out, result.err

    # Both processes ran the whole recipe; rank 1 logs its own copy of the summary table, the same.
    def table(log):
        return log.read_text().split("cross-validation summary")[1]

    assert table(run / "train.log") == table(run / "train_ddp_process_1.log")

    # The metrics cover both processes' halves of the validation fold: DistributedSampler pads
    # the 21 images to 22 with the first one, and each process takes every other image.
    datamodule = instantiate(compose_train(overrides, tmp_path / "unused").data)
    datamodule.setup()
    # the split of one process: both processes trained and validated on it
    assert json.loads((run / "split.json").read_text()) == json.loads(json.dumps(datamodule.split.to_dict()))
    model = load_classifier(run / summary["folds"][0]["checkpoint"])
    images, labels = map(torch.cat, zip(*datamodule.val_dataloader()))
    with torch.inference_mode():
        logits = model(images)
    padded = torch.arange(len(labels) + len(labels) % 2) % len(labels)
    losses = F.cross_entropy(logits[padded], labels[padded], reduction="none")
    hits = (logits[padded].argmax(dim=1) == labels[padded]).float()
    assert summary["folds"][0]["val/loss"] == pytest.approx(losses.mean().item(), rel=1e-4)
    assert summary["folds"][0]["val/acc"] == pytest.approx(hits.mean().item())


def test_ddp_with_less_than_a_batch_per_process_is_refused_before_training(demo_root, tmp_path, entry):
    # 21 training images in fold 0, over 2 processes: 11 each, less than the batch of 16 (refused in the
    # process the user started, before Lightning starts the second: so in this one)
    run = tmp_path / "run"
    result = entry(
        "train.py", *SMALL, f"data.root={demo_root}", "data.fold=0", *DDP_ON_CPU, f"hydra.run.dir={run}",
        f"paths.log_dir={tmp_path}",
    )  # fmt: skip
    assert result.code == 2, result.out[-3000:] + result.err[-3000:]
    assert result.err.strip().splitlines()[-1] == (
        "error: fold 0: 21 training images over 2 processes is 11 per process, less than one batch "
        "(data.batch_size=16); set data.batch_size=11 or lower, or train on fewer devices"
    )
    assert not (run / "fold_0" / "checkpoints").exists()


def test_ddp_inside_a_multirun_on_one_machine_is_refused(tiny_cfg):
    # Lightning would start `train.py -m ...` again per device: the whole sweep, not this job
    cfg = tiny_cfg("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "data.fold=0")
    with read_write(cfg.hydra):
        cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig().set_config(cfg)
    with pytest.raises(UserError, match="hydra/launcher=slurm"):
        train(cfg)


def test_launcher_configs_compose(tiny_cfg):
    slurm = tiny_cfg("hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2")
    # one SLURM task per device, on every node
    assert (
        slurm.hydra.launcher.tasks_per_node,
        slurm.hydra.launcher.gpus_per_node,
        slurm.hydra.launcher.nodes,
    ) == (4, 4, 2)
    assert slurm.hydra.launcher._target_.endswith("SlurmLauncher")
    assert tiny_cfg("hydra/launcher=local").hydra.launcher._target_.endswith("LocalLauncher")
