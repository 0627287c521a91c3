import logging
import platform
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from genre_lightning import performance
from genre_lightning.errors import UserError
from genre_lightning.models.classifier import GenreClassifier
from genre_lightning.performance import cpu_has_fast_bf16, device_type, supported_precision


@pytest.mark.skipif(
    platform.machine() != "x86_64" or not Path("/proc/cpuinfo").exists(), reason="reads x86 Linux CPU flags"
)
def test_bf16_detection_agrees_with_the_cpu_flags(monkeypatch):
    monkeypatch.delenv(performance.BF16_ENV, raising=False)
    flags = set(Path("/proc/cpuinfo").read_text().split("flags")[1].splitlines()[0].split())
    assert cpu_has_fast_bf16() == bool({"avx512_bf16", "amx_tile"} & flags)


def test_device_type_is_cpu_cuda_mps_or_none():
    gpu = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else None
    assert device_type("gpu") == gpu and device_type("auto") == (gpu or "cpu")
    assert [device_type(name) for name in ("CPU", "cuda", "cuda:1", "mps")] == ["cpu", "cuda", "cuda", "mps"]
    assert device_type("tpu") is None and device_type("cudaa") is None


def test_bf16_falls_back_to_fp32_on_cpus_without_it(monkeypatch, caplog):
    monkeypatch.delenv(performance.BF16_ENV, raising=False)
    monkeypatch.setattr(performance, "cpu_has_fast_bf16", lambda: False)
    with caplog.at_level(logging.WARNING, logger="genre_lightning.performance"):
        assert supported_precision("bf16-mixed", "cpu") == "32-true"
    assert "no native bf16" in caplog.text and len(caplog.records) == 1
    assert supported_precision("16-mixed", "cpu") == "16-mixed" and supported_precision(32, "cpu") == "32"
    monkeypatch.setattr(performance, "cpu_has_fast_bf16", lambda: True)
    assert supported_precision("bf16-mixed", "cpu") == "bf16-mixed"


def test_the_environment_turns_cpu_bf16_on_or_off_for_training_and_inference(monkeypatch, caplog):
    monkeypatch.setenv(performance.BF16_ENV, "0")
    with caplog.at_level(logging.INFO, logger="genre_lightning.performance"):
        assert supported_precision("bf16-mixed", "cpu") == "32-true"
    assert [r.levelname for r in caplog.records] == ["INFO"] and "GENRE_LIGHTNING_BF16=0" in caplog.text
    assert not performance.inference_bf16("cpu")
    monkeypatch.setenv(performance.BF16_ENV, "1")
    assert supported_precision("bf16-mixed", "cpu") == "bf16-mixed" and performance.inference_bf16("cpu")
    monkeypatch.setenv(performance.BF16_ENV, "yes")
    with pytest.raises(UserError, match="GENRE_LIGHTNING_BF16='yes': set it to 1"):
        cpu_has_fast_bf16()


def test_cpu_trainer_trains_channels_last_in_the_supported_precision(tiny_cfg):
    cfg = tiny_cfg("trainer=cpu", "data.num_workers=0")
    assert cfg.trainer.precision == "bf16-mixed"
    dm = instantiate(cfg.data)
    dm.setup()
    model = instantiate(cfg.model, class_names=dm.class_names, preprocessing=dm.preprocessing)
    precision = supported_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    trainer = instantiate(
        cfg.trainer,
        precision=precision,
        callbacks=[instantiate(cfg.callbacks.channels_last)],
        logger=False,
        enable_checkpointing=False,
        max_steps=1,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=dm)
    assert trainer.precision == ("bf16-mixed" if cpu_has_fast_bf16() else "32-true")
    assert model.net.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_compile_keeps_the_plain_networks_parameter_names():
    """A checkpoint of a compiled model loads, key for key, into the uncompiled one prediction builds."""
    torch.manual_seed(0)
    model = GenreClassifier(["a", "b"], arch="resnet18", weights=None, compile=True).eval()
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        before = model(images)
    model.setup("fit")  # what a Trainer calls; compilation itself happens on the first batch
    plain = GenreClassifier(["a", "b"], arch="resnet18", weights=None).eval()
    plain.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(plain(images), before)
