"""The machine a benchmark ran on, as its table names it. Torch alone: accuracy.py, which only starts
train.py, loads no more."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

from genre_lightning.performance import bf16_is_fast


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return (
            f"{torch.cuda.get_device_name()} (bf16: {bf16_is_fast('cuda')}), "
            f"{torch.get_num_threads()} CPU threads"
        )
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    return f"{cpu}, {torch.get_num_threads()} threads, native bf16: {bf16_is_fast('cpu')}"
