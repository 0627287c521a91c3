"""Speed settings that depend on the machine: bf16 only where the hardware runs it natively."""

from __future__ import annotations

import logging
import os
import platform

import torch

from genre_lightning.errors import UserError

log = logging.getLogger(__name__)

# "0" or "1": overrides the CPU's bf16 detection below, for training and inference alike; e.g. to get on a
# bf16 CPU the fp32 numbers of one without it (the test suite runs both ways), or to try emulated bf16
BF16_ENV = "GENRE_LIGHTNING_BF16"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX on x86, BF16 on Arm), unless
    $GENRE_LIGHTNING_BF16 says otherwise.

    oneDNN also runs bf16 on any AVX-512 CPU, but emulated and slower than fp32, so that is not enough.
    """
    forced = os.environ.get(BF16_ENV)
    if forced is not None:
        if forced not in ("0", "1"):
            raise UserError(f"{BF16_ENV}={forced!r}: set it to 1 (bf16 on the CPU), 0 (fp32), or unset it")
        return forced == "1"
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        if platform.machine().lower() in ("x86_64", "amd64"):
            return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return torch.ops.mkldnn._is_mkldnn_bf16_supported()  # Arm: true only with the BF16 extension
    except (AttributeError, RuntimeError):  # private probes: a torch without them gets fp32
        return False


def device_type(accelerator) -> str | None:
    """cpu, cuda or mps: where a Trainer with this `accelerator` setting (or a torch device name, cuda:1)
    runs; "auto" and "gpu" pick CUDA, else MPS ("auto": else the CPU). None for a name that is none of these
    here: "gpu" on a machine without CUDA or MPS, or another kind (tpu...)."""
    name = str(accelerator).lower()
    if name in ("auto", "gpu"):
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu" if name == "auto" else None
    kind = name.partition(":")[0]
    return kind if kind in ("cpu", "cuda", "mps") else None


def bf16_is_fast(device: str) -> bool:
    if device == "cpu":
        return cpu_has_fast_bf16()
    if device == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return False


def supported_precision(precision, accelerator) -> str:
    """The Trainer `precision` to use: bf16 where the device runs it natively, else the nearest that runs."""
    precision = str(precision)
    device = device_type(accelerator)
    if not precision.startswith("bf16") or device not in ("cpu", "cuda") or bf16_is_fast(device):
        return precision
    fallback = "32-true" if device == "cpu" else "16-mixed"
    if device == "cpu" and BF16_ENV in os.environ:  # asked for: worth a line, not a warning
        log.info("precision=%s: %s=0, so training runs in %s", precision, BF16_ENV, fallback)
    else:
        log.warning(
            "precision=%s: this %s has no native bf16, so training runs in %s",
            precision,
            device.upper(),
            fallback,
        )
    return fallback


def inference_bf16(device: torch.device | str, precision: str = "auto") -> bool:
    """Whether inference runs in bf16. precision: "bf16", "32", or "auto": bf16 where the device computes it
    natively (CUDA, AVX512-BF16/AMX CPUs)."""
    if precision not in ("auto", "bf16", "32"):
        raise UserError(f"precision={precision!r} is not supported; use auto, bf16 or 32")
    if precision != "auto":
        return precision == "bf16"
    return bf16_is_fast(torch.device(device).type)


def inference_autocast(device: torch.device | str, precision: str = "auto"):
    """bf16 autocast for inference as ``inference_bf16`` decides, a no-op otherwise."""
    return torch.autocast(
        torch.device(device).type, dtype=torch.bfloat16, enabled=inference_bf16(device, precision)
    )
