import json
from pathlib import Path

import pytest
import torch
from conftest import NO_FIGURES, TINY, compose_train
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from genre_lightning.errors import UserError
from genre_lightning.predict.ensemble import find_checkpoints
from genre_lightning.run_folder.layout import RunFolder
from genre_lightning.training.kfold import train
from genre_lightning.training.summary import optimized_value


def test_one_fold_run_writes_checkpoint_events_split_and_summary(tiny_cfg):
    cfg = tiny_cfg("data.fold=1", "trainer.max_epochs=3")
    summary = train(cfg)
    run = cfg.paths.output_dir
    assert [f["fold"] for f in summary["folds"]] == [1]
    ckpt = torch.load(f"{run}/{summary['folds'][0]['checkpoint']}", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["class_names"] == summary["classes"]
    assert ckpt["hyper_parameters"]["preprocessing"]["transform"]["transforms"] == "resized_crop"
    events = EventAccumulator(f"{run}/fold_1").Reload()
    assert {"train/loss", "val/loss", "val/acc"} <= set(events.Tags()["scalars"])
    # the kept checkpoint is the epoch with the lowest validation loss; validating it again gives that loss
    # (one value per epoch, then the one of that validation)
    *per_epoch, again = [event.value for event in events.Scalars("val/loss")]
    assert len(per_epoch) == 3
    assert ckpt["epoch"] == per_epoch.index(min(per_epoch))
    assert summary["folds"][0]["val/loss"] == pytest.approx(again)
    assert again == pytest.approx(min(per_epoch), rel=1e-4)
    with open(f"{run}/split.json") as f:
        split = json.load(f)
    assert len(split["folds"]) == 2 and split["classes"] == summary["classes"]
    with open(f"{run}/cv_summary.json") as f:
        on_disk = json.load(f)
    assert on_disk["metrics"]["val/acc_mean"] == pytest.approx(summary["folds"][0]["val/acc"])
    assert optimized_value(cfg, summary) == on_disk["metrics"]["val/acc_mean"]


def test_a_run_folder_is_never_reused(tiny_cfg):
    cfg = tiny_cfg("data.fold=0")
    train(cfg)
    with pytest.raises(UserError, match="already holds a run"):
        train(cfg)


def test_a_diverged_fold_stops_with_one_line_and_keeps_nothing_to_predict_with(tiny_cfg, tmp_path):
    # a learning rate that is no number turns the weights into NaN at the first step, as divergence does
    cfg = tiny_cfg("data.fold=0", "trainer.max_epochs=2", "model.optimizer.lr=nan", "data.max_per_class=8")
    with pytest.raises(UserError) as caught:
        train(cfg)
    assert str(caught.value) == (
        "fold 0: val/loss is nan in epoch 1: the model diverged, and the run stops without keeping that "
        "epoch; lower model.optimizer.lr or check the data and transform settings, then start a new run"
    )
    run = RunFolder(cfg.paths.output_dir)
    assert not list(run.checkpoint_dir(0).glob("*.ckpt")) and not run.summary.exists()
    with pytest.raises(UserError, match="no finished training run"):
        find_checkpoints("latest", run.path.parent)


@pytest.mark.parametrize("resident", [True, False])
def test_kfold_run_beats_chance_on_demo_data(tiny_cfg, resident):
    # 7 genres: chance is 14%; a few epochs of resnet18 at 64 px must clearly learn the traits, with the
    # images kept decoded in memory (batched crops) or decoded by the loaders (per-image crops).
    # Batches of 8 give BatchNorm's running statistics enough steps to settle on so little data.
    summary = train(
        tiny_cfg("trainer.max_epochs=10", "data.batch_size=8", f"data.resident={resident}", *NO_FIGURES)
    )
    assert [f["fold"] for f in summary["folds"]] == [0, 1]
    metrics = summary["metrics"]
    assert metrics["val/acc_mean"] > 0.3, metrics
    assert metrics["test/acc_mean"] > 0.3, metrics
    assert {"val/acc_std", "test/f1_mean", "val/loss_mean"} <= set(metrics)


def test_optimized_metric_must_be_a_summary_metric(tiny_cfg):
    cfg = tiny_cfg("optimized_metric=val/nope")
    with pytest.raises(UserError, match="optimized_metric='val/nope'"):
        optimized_value(cfg, {"metrics": {"val/acc_mean": 0.5}})


# what each trainer file sets on top of default.yaml
TRAINERS = {
    "default": {"accelerator": "auto", "devices": 1, "precision": "32-true", "max_epochs": 14},
    "cpu": {"accelerator": "cpu", "precision": "bf16-mixed"},
    "gpu": {"accelerator": "gpu", "devices": 1, "precision": "bf16-mixed", "benchmark": True},
    "mps": {"accelerator": "mps", "devices": 1},
    "ddp": {
        "strategy": "ddp",
        "accelerator": "gpu",
        "devices": 2,
        "num_nodes": 1,
        "sync_batchnorm": True,
        "precision": "bf16-mixed",
    },
}


@pytest.mark.parametrize("trainer", list(TRAINERS))
def test_every_trainer_config_composes_with_its_own_values(tmp_path, trainer):
    cfg = compose_train([f"trainer={trainer}"], tmp_path / "run").trainer
    default = compose_train([], tmp_path / "run").trainer
    assert cfg._target_ == "lightning.pytorch.Trainer"
    assert {key: cfg.get(key) for key in TRAINERS[trainer]} == TRAINERS[trainer]
    # everything else comes from default.yaml
    assert {k: v for k, v in cfg.items() if k not in TRAINERS[trainer]} == {
        k: v for k, v in default.items() if k not in TRAINERS[trainer]
    }


@pytest.mark.parametrize(
    "mistake, message",
    [
        ("data.num_folds=1", "data.num_folds=1: k-fold cross-validation needs at least 2 folds"),
        ("model.arch=resnet999", "model.arch='resnet999' is not supported; choose one of ['resnet18'"),
        (
            "model.optimizer.lr=-0.1",
            "model.optimizer: cannot build torch.optim.SGD (Invalid learning rate: -0.1); fix model.optim",
        ),
        (
            "model.scheduler.factor=2",
            "model.scheduler: cannot build torch.optim.lr_scheduler.ReduceLROnPlateau (Factor should be < 1",
        ),
        ("trainer.max_epochs=0", "trainer.max_epochs=0: train at least 1 epoch"),
        ("data.test_fraction=1.5", "data.test_fraction=1.5: the share of each genre held out for testing"),
        (
            "data.classes=[]",
            "data.classes=[]: name at least two genres, or null for every one of ['Classical'",
        ),
    ],
)
def test_config_mistakes_are_one_line_errors_before_anything_is_written(
    entry, demo_root, tmp_path, mistake, message
):
    run = tmp_path / "run"
    args = [*TINY, f"data.root={demo_root}", f"paths.log_dir={tmp_path}", f"hydra.run.dir={run}"]
    result = entry("train.py", *args, mistake)
    assert result.code == 2, result.err
    assert result.err.startswith(f"error: {message}") and len(result.err.strip().splitlines()) == 1
    assert not (run / "split.json").exists()


def test_published_experiment_is_the_published_recipe(tmp_path):
    cfg = compose_train(["experiment=published"], tmp_path / "run")
    assert (cfg.data.max_per_class, cfg.data.test_fraction, cfg.data.num_folds) == (1000, 0.2, 5)
    assert (cfg.model.arch, cfg.model.weights, cfg.model.dropout) == ("resnet50", "imagenet", 0.5)
    assert (cfg.trainer.max_epochs, cfg.data.batch_size) == (14, 32)
    assert cfg.model.optimizer.lr == 0.01 and cfg.model.optimizer.momentum == 0.9
    # the published project's schedule, transforms and checkpoint choice, whatever the other recipes add
    assert cfg.model.optimizer._target_ == "torch.optim.SGD" and cfg.model.scheduler_interval == "epoch"
    assert cfg.model.scheduler._target_.endswith("ReduceLROnPlateau") and cfg.model.label_smoothing == 0
    assert cfg.data.transforms.family == "resized_crop"
    assert cfg.data.batch_augment == [] and cfg.callbacks.model_checkpoint.monitor == "val/loss"


def test_fma_small_recipe_trains_with_its_augmentation_and_keeps_the_last_epoch(demo_root, tmp_path):
    overrides = [
        "experiment=fma_small", f"data.root={demo_root}", "data.image_size=64", "data.resize_size=64",
        "data.transforms.crop_width=48", "data.num_folds=2", "data.batch_size=16", "data.num_workers=0",
        "data.max_per_class=8", "model.width=16", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]  # fmt: skip
    cfg = compose_train(overrides, tmp_path / "run")
    augment = [a._target_.rsplit(".", 1)[-1] for a in cfg.data.batch_augment]
    assert augment == ["SpecAugment", "Mixup"] and 0 < cfg.callbacks.ema.decay < 1
    summary = train(cfg)
    assert summary["ensemble"]["folds"] == 2
    for fold in summary["folds"]:
        ckpt = torch.load(tmp_path / "run" / fold["checkpoint"], map_location="cpu", weights_only=False)
        assert ckpt["epoch"] == 1, "the last epoch's weights are kept"
        crop = ckpt["hyper_parameters"]["preprocessing"]["transform"]
        # evaluation sees the whole width (all the clip's time)
        assert crop["transforms"] == "time_crop" and crop["eval_width"] is None and crop["eval_crops"] == 1
        assert float(ckpt["state_dict"]["temperature"]) == pytest.approx(fold["val/temperature"])


def test_opt_in_callbacks_combine_in_one_run(tiny_cfg):
    """callbacks=[ema,early_stopping]: the default callbacks, the weight average and early stopping."""
    defaults = list(tiny_cfg().callbacks)
    cfg = tiny_cfg(
        "data.fold=0", "data.max_per_class=8", "trainer.max_epochs=4", "callbacks=[ema,early_stopping]",
        # no epoch lowers val/loss by a million: the fold stops after its second epoch (patience 1)
        "callbacks.early_stopping.patience=1", "+callbacks.early_stopping.min_delta=1e6",
    )  # fmt: skip
    assert list(cfg.callbacks) == [*defaults, "ema", "early_stopping"]
    summary = train(cfg)
    assert summary["folds"][0]["epochs"] == 2
    last = torch.load(RunFolder(cfg.paths.output_dir).last(0), map_location="cpu", weights_only=False)
    states = " ".join(last["callbacks"])
    assert "EMAWeightAveraging" in states and "EarlyStopping" in states, states


def test_datamodule_builds_from_config(tiny_cfg):
    dm = instantiate(tiny_cfg().data)
    dm.setup()
    assert len(dm.class_names) == 7 and dm.preprocessing["min_size"] == 64


def test_fast_dev_run_smoke_tests_a_fold_and_keeps_no_checkpoint(tiny_cfg, entry, demo_root):
    # Lightning's smoke test (debug=fdr): one batch of each loop, no checkpoint, no logger
    cfg = tiny_cfg("debug=fdr", "data.fold=0")
    assert cfg.trainer.fast_dev_run and cfg.task_name == "debug"
    summary = train(cfg)
    [fold] = summary["folds"]
    assert fold["checkpoint"] is None
    # one test batch of data.batch_size=16 images, not the whole test split: the accuracy is a count out of 16
    right = fold["test/acc"] * cfg.data.batch_size
    assert right == pytest.approx(round(right), abs=1e-4), fold["test/acc"]
    run = cfg.paths.output_dir
    image = next((demo_root / "Rock").glob("*.jpg"))
    result = entry("predict.py", f"ckpt={run}", f"image={image}")
    assert result.code == 2 and result.err == (
        f"error: {run}: its folds kept no checkpoint (a trainer.fast_dev_run run saves none); "
        "train without fast_dev_run to predict\n"
    )
    # nor is it the latest finished run
    result = entry("predict.py", "ckpt=latest", f"image={image}", f"runs_dir={Path(run).parent}")
    assert result.code == 2 and "no finished training run" in result.err, result.err


def test_recipe_search_sweeps_keys_the_fma_small_config_has(tmp_path):
    from omegaconf import OmegaConf

    cfg = compose_train(["experiment=fma_small", "hparams_search=fma_small_recipe"], tmp_path / "run")
    assert cfg.data.resident is True and cfg.hydra.mode.name == "MULTIRUN"
    params = cfg.hydra.sweeper.params
    assert "data.batch_augment.1.alpha" in params
    # every swept key names a value of the composed run (a typo would add a key train.py never reads)
    missing = [key for key in params if OmegaConf.select(cfg, key, default="<none>") == "<none>"]
    assert missing == []
    assert cfg.data.batch_augment[1]._target_.endswith("Mixup")
