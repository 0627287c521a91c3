"""The training step makes no host sync, and TensorBoard plots epochs: both read off real training runs.

No GPU here, so the syncs are found the way a GPU would meet them: a TorchFunctionMode watches every torch
call of a real run on the CPU, follows which tensors hold data that would live on the training device (the
batch, the module's parameters, buffers and metric states, and everything computed from them), and records
each call that would bring such data back to the host (`.item()`, `float()`, `bool()`, `.tolist()`,
`.cpu()`, or ops whose output size depends on the values: nonzero, unique, bincount, boolean indexing...).
Tensors made on the host (torch.optim's step counters, mixup's Beta draw) stay on the host on a GPU too
and are not followed. benchmarks/gpu_check.sh runs the same run under torch.cuda.set_sync_debug_mode.
"""

from __future__ import annotations

import json
import traceback
import weakref

import lightning.pytorch as pl
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from genre_lightning.training.kfold import train

# calls that read a tensor's values on the host, or size their output by them
HOST_READS = {
    "item",
    "tolist",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "numpy",
    "cpu",
    "nonzero",
    "unique",
    "unique_consecutive",
    "masked_select",
    "bincount",
    "equal",
    "allclose",
    "repeat_interleave",
}


class DeviceData(TorchFunctionMode):
    """Follows the tensors derived from `mark`ed ones; records host reads of them while `watching`."""

    def __init__(self):
        super().__init__()
        self.followed: dict[int, weakref.ref] = {}
        self.watching = False
        self.reads: list[tuple[str, str]] = []

    def mark(self, tree) -> None:
        for tensor in tree_flatten(tree)[0]:
            if isinstance(tensor, torch.Tensor) and id(tensor) not in self.followed:
                key = id(tensor)
                self.followed[key] = weakref.ref(tensor, lambda _, key=key: self.followed.pop(key, None))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        on_device = any(id(t) in self.followed for t in inputs)
        name = getattr(func, "__name__", "")
        if self.watching and on_device:
            index = tree_flatten(args[1:])[0] if name == "__getitem__" else []
            masks = any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in index)
            if name in HOST_READS or masks:
                caller = [f for f in traceback.extract_stack()[:-1] if "/torch/" not in f.filename][-1]
                self.reads.append((name, f"{caller.filename}:{caller.lineno}"))
        out = func(*args, **kwargs)
        if on_device:
            self.mark(out)
            if name.endswith("_") or name.startswith("__i"):  # in place: the target now holds device data
                self.mark(args[0])
        return out


class HostReads(pl.Callback):
    """Watches training from the second batch on (the first one's input-sample figure is read once a run)
    to each epoch's end, with every callback of the run around it."""

    mode: DeviceData | None = None

    def __init__(self):
        HostReads.mode = self.mode = DeviceData()

    def setup(self, trainer, pl_module, stage):
        if stage == "fit":
            self.mode.__enter__()

    def teardown(self, trainer, pl_module, stage):
        if stage == "fit":
            self.mode.__exit__(None, None, None)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.mode.mark(batch)
        self.mode.mark(list(pl_module.state_dict(keep_vars=True).values()))
        self.mode.mark([m.metric_state for m in pl_module.modules() if hasattr(m, "metric_state")])
        self.mode.watching = batch_idx >= 1 or trainer.current_epoch >= 1

    def on_validation_epoch_start(self, trainer, pl_module):
        self.mode.watching = False

    def on_train_epoch_end(self, trainer, pl_module):
        self.mode.watching = False


def test_training_steps_read_nothing_back_from_the_device(tiny_cfg):
    # the fma_small recipe's parts: AdamW, a per-step schedule, EMA, SpecAugment and mixup; with the bar
    cfg = tiny_cfg(
        "data.fold=0",
        "test=false",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=3",
        "+trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=true",
        "callbacks.progress_bar.refresh_seconds=0",
        "trainer.log_every_n_steps=1",
        "model/optimizer=adamw",
        "model/scheduler=warmup_cosine",
        "callbacks=ema",
        "+callbacks.host_reads._target_=test_lean_step.HostReads",
        "data.batch_augment=[{_target_:genre_lightning.data.augment.SpecAugment},"
        "{_target_:genre_lightning.data.augment.Mixup}]",
    )
    train(cfg)
    mode = HostReads.mode
    assert mode.followed, "the probe followed no tensor"
    assert mode.reads == []


def test_tensorboard_plots_epochs_groups_genres_and_shows_the_folds_mean(trained_run):
    # conftest.py's trained run: 2 folds of 2 epochs, as a tiny_cfg() run writes them
    summary = json.loads((trained_run / "cv_summary.json").read_text())
    config = json.loads((trained_run / "run_config.json").read_text())["config"]
    run = str(trained_run)
    events = EventAccumulator(f"{run}/fold_0").Reload()
    scalars = set(events.Tags()["scalars"])
    # every scalar is logged per epoch, at its epoch; the kept checkpoint's validation after training, the
    # test and the final values one past the last epoch
    assert [e.step for e in events.Scalars("train/loss")] == [0, 1]
    assert [e.step for e in events.Scalars("train/lr")] == [0, 1]
    assert [e.step for e in events.Scalars("val/acc")] == [0, 1, 2]
    assert [e.step for e in events.Scalars("test/acc")] == [2]
    assert [e.step for e in events.Scalars("final/test/acc")] == [2]
    assert "epoch" not in scalars
    # per-genre scores in groups of their own, which TensorBoard lists after val/ and test/
    genres = summary["classes"]
    per_genre = {f"val_per_genre/{s}/{g}" for s in ("precision", "recall", "f1") for g in genres}
    assert per_genre <= scalars
    assert not any(tag.startswith("val/") and tag.count("/") > 1 for tag in scalars)
    assert [e.step for e in events.Scalars(f"val_per_genre/f1/{genres[0]}")] == [0, 1, 2]
    # the run folder's own event file: each fold's score at that fold, and their mean across them
    cv = EventAccumulator(run).Reload()
    folds = [e.value for e in cv.Scalars("cv/val/acc")]
    assert [e.step for e in cv.Scalars("cv/val/acc")] == [0, 1]
    assert folds == pytest.approx([fold["val/acc"] for fold in summary["folds"]])
    mean = [e.value for e in cv.Scalars("cv/val/acc_mean")]
    assert mean == pytest.approx([summary["metrics"]["val/acc_mean"]] * 2)
    # and the run's HPARAMS row: its settings beside every metric's mean across the folds
    plugin = cv.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(plugin["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["lr"].number_value == pytest.approx(config["model"]["optimizer"]["lr"])
    assert start.hparams["max_epochs"].number_value == config["trainer"]["max_epochs"] == 2
    experiment = HParamsPluginData.FromString(plugin["_hparams_/experiment"]).experiment
    tags = {info.name.tag for info in experiment.metric_infos}
    assert {"cv/val/acc_mean", "cv/test/acc_mean"} <= tags
