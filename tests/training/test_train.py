import json

import pytest
import torch
from conftest import compose_train
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from genre_lightning.errors import UserError
from genre_lightning.training.kfold import train
from genre_lightning.training.summary import optimized_value


def test_one_fold_run_writes_checkpoint_events_split_and_summary(tiny_cfg):
    cfg = tiny_cfg("data.fold=1")
    summary = train(cfg)
    run = cfg.paths.output_dir
    assert [f["fold"] for f in summary["folds"]] == [1]
    ckpt = torch.load(f"{run}/{summary['folds'][0]['checkpoint']}", map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["class_names"] == summary["classes"]
    assert ckpt["hyper_parameters"]["preprocessing"]["transform"]["_target_"].endswith("Compose")
    events = EventAccumulator(f"{run}/fold_1").Reload()
    assert {"train/loss_epoch", "val/loss", "val/acc"} <= set(events.Tags()["scalars"])
    with open(f"{run}/split.json") as f:
        split = json.load(f)
    assert len(split["folds"]) == 2 and split["classes"] == summary["classes"]
    with open(f"{run}/cv_summary.json") as f:
        on_disk = json.load(f)
    assert on_disk["metrics"]["val/acc_mean"] == pytest.approx(summary["folds"][0]["val/acc"])
    assert 0.0 <= optimized_value(cfg, summary) <= 1.0


def test_a_run_folder_is_never_reused(tiny_cfg):
    cfg = tiny_cfg("data.fold=0")
    train(cfg)
    with pytest.raises(UserError, match="already holds a run"):
        train(cfg)


def test_kfold_run_beats_chance_on_demo_data(tiny_cfg):
    # 7 genres: chance is 14%; a few epochs of resnet18 at 64 px must clearly learn the traits.
    # Batches of 8 give BatchNorm's running statistics enough steps to settle on so little data.
    summary = train(tiny_cfg("trainer.max_epochs=10", "data.batch_size=8"))
    assert [f["fold"] for f in summary["folds"]] == [0, 1]
    metrics = summary["metrics"]
    assert metrics["val/acc_mean"] > 0.3, metrics
    assert metrics["test/acc_mean"] > 0.3, metrics
    assert {"val/acc_std", "test/f1_mean", "val/loss_mean"} <= set(metrics)


def test_optimized_metric_must_be_a_summary_metric(tiny_cfg):
    cfg = tiny_cfg("optimized_metric=val/nope")
    with pytest.raises(UserError, match="optimized_metric='val/nope'"):
        optimized_value(cfg, {"metrics": {"val/acc_mean": 0.5}})


@pytest.mark.parametrize("trainer", ["default", "cpu", "gpu", "mps", "ddp"])
def test_every_trainer_config_composes(tiny_cfg, trainer):
    cfg = tiny_cfg(f"trainer={trainer}", "trainer.accelerator=gpu")
    assert cfg.trainer.accelerator == "gpu"
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"


def test_seed_experiment_is_the_published_recipe(tmp_path):
    cfg = compose_train(["experiment=seed"], tmp_path / "run")
    assert (cfg.data.max_per_class, cfg.data.test_fraction, cfg.data.num_folds) == (1000, 0.2, 5)
    assert (cfg.model.arch, cfg.model.weights, cfg.model.dropout) == ("resnet50", "imagenet", 0.5)
    assert (cfg.trainer.max_epochs, cfg.data.batch_size) == (14, 32)
    assert cfg.model.optimizer.lr == 0.01 and cfg.model.optimizer.momentum == 0.9
    # the seed's schedule, transforms and checkpoint choice, whatever the other recipes add
    assert cfg.model.optimizer._target_ == "torch.optim.SGD" and cfg.model.scheduler_interval == "epoch"
    assert cfg.model.scheduler._target_.endswith("ReduceLROnPlateau") and cfg.model.label_smoothing == 0
    assert cfg.data.train_transform.transforms[1]._target_.endswith("RandomResizedCrop")
    assert cfg.data.batch_augment == [] and cfg.callbacks.model_checkpoint.monitor == "val/loss"


def test_fma_small_recipe_trains_with_its_augmentation_and_keeps_the_last_epoch(demo_root, tmp_path):
    overrides = [
        "experiment=fma_small", f"data.root={demo_root}", "data.image_size=64", "data.resize_size=64",
        "data.crop_width=48", "data.num_folds=2", "data.batch_size=16", "data.num_workers=0",
        "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
    ]  # fmt: skip
    cfg = compose_train(overrides, tmp_path / "run")
    summary = train(cfg)
    assert summary["ensemble"]["folds"] == 2
    for fold in summary["folds"]:
        ckpt = torch.load(tmp_path / "run" / fold["checkpoint"], map_location="cpu", weights_only=False)
        assert ckpt["epoch"] == 1, "the last epoch's weights are kept"
        crop = ckpt["hyper_parameters"]["preprocessing"]["transform"]["transforms"][-1]
        # evaluation sees the whole width (all the clip's time)
        assert crop["_target_"].endswith("TimeCrop") and crop["width"] is None and crop["crops"] == 1
        assert float(ckpt["state_dict"]["temperature"]) == pytest.approx(fold["val/temperature"])


def test_datamodule_builds_from_config(tiny_cfg):
    dm = instantiate(tiny_cfg().data)
    dm.setup()
    assert len(dm.class_names) == 7 and dm.preprocessing["min_size"] == 64
