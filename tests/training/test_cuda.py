"""What only a GPU can show: CUDA's own sync detector over real training steps, and the batched JPEG decode
on the device (nvJPEG) against the PIL path. Skipped without CUDA; benchmarks/gpu_check.sh runs them."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from PIL import Image

from genre_lightning.predict.ensemble import Ensemble, find_checkpoints
from genre_lightning.training.kfold import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class SyncsAreErrors(pl.Callback):
    """torch.cuda.set_sync_debug_mode("error") from the second training batch to each epoch's end: a step
    that waits for the GPU (an .item(), a bincount, a pageable copy) raises instead."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx >= 1 or trainer.current_epoch >= 1:
            torch.cuda.set_sync_debug_mode("error")

    def on_validation_epoch_start(self, trainer, pl_module):
        torch.cuda.set_sync_debug_mode("default")

    def on_train_epoch_end(self, trainer, pl_module):
        torch.cuda.set_sync_debug_mode("default")


def test_training_steps_on_a_gpu_never_wait_for_it(tiny_cfg):
    cfg = tiny_cfg(
        "trainer=gpu",
        "data.fold=0",
        "test=false",
        "trainer.max_epochs=2",
        "+trainer.limit_train_batches=4",
        "+trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=true",
        "callbacks.progress_bar.refresh_seconds=0",
        "model/optimizer=adamw",
        "model/scheduler=warmup_cosine",
        "callbacks=ema",
        "+callbacks.syncs._target_=test_cuda.SyncsAreErrors",
        "data.batch_augment=[{_target_:genre_lightning.data.augment.SpecAugment},"
        "{_target_:genre_lightning.data.augment.Mixup}]",
    )
    try:
        train(cfg)
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_nvjpeg_batches_match_the_pil_path(trained_run, demo_root, tmp_path):
    files = []
    for k, path in enumerate(sorted(demo_root.glob("*/*_0001.jpg"))[:5]):
        files.append(tmp_path / f"{k}.jpg")
        Image.open(path).resize((384, 288), Image.Resampling.BICUBIC).save(files[-1], quality=90)
    checkpoints = find_checkpoints(trained_run, trained_run.parent)
    pil = Ensemble(checkpoints, "cuda", precision="32", decode="pil")
    gpu = Ensemble(checkpoints, "cuda", precision="32")
    assert gpu.batched  # decode=auto on CUDA
    decoded = gpu.decode_jpegs(files)
    assert list(decoded) == files and all(image.is_cuda for image in decoded.values())
    for path in files:
        by_pil, on_device = pil.preprocess(path).float(), gpu.preprocess(path, decoded[path]).float().cpu()
        assert by_pil.shape == on_device.shape
        assert (by_pil - on_device).abs().mean() < 2.0
