"""Measuring a pass: wall and CPU seconds, peak memory, and the cells of speed.py's table."""

from __future__ import annotations

import contextlib
import logging.config
import multiprocessing
import os
import re
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from genre_lightning.compose import train_config


def quiet_console() -> None:
    """train.py's console: configs/hydra/default.yaml's job_logging, less its log file. Lightning's INFO
    lines ("GPU available", the litlogger tip) are left out and its warnings go through the root's handler,
    beside the project's own lines."""
    logging_cfg = OmegaConf.to_container(train_config(with_hydra=True).hydra.job_logging)
    del logging_cfg["handlers"]["file"]
    logging_cfg["root"]["handlers"].remove("file")
    logging.config.dictConfig(logging_cfg)


def timing_trainer(cfg, precision: str, callbacks: list, epochs: int) -> pl.Trainer:
    """The config's Trainer for timing training alone: no logger, checkpoints, progress bar or validation."""
    return instantiate(
        cfg.trainer,
        precision=precision,
        callbacks=[instantiate(cfg.callbacks.channels_last), *callbacks],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # Linux: "5" resets VmHWM, the peak resident set size
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        return int(re.search(r"VmHWM:\s+(\d+) kB", status.read_text()).group(1)) / 1024
    import resource  # elsewhere: the peak since the start, in bytes on macOS

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)


def cpu_seconds() -> float:
    """CPU time of this process and its children, loader workers still running included.

    Unlike wall time it hardly moves when other programs compete for the cores.
    """
    times = os.times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextlib.contextmanager
def measured(device: torch.device, result: dict):
    """Fill `result` with the block's seconds, CPU seconds, peak RSS and (CUDA) peak allocated memory."""
    reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start, cpu_start = time.perf_counter(), cpu_seconds()
    yield result
    if device.type == "cuda":
        torch.cuda.synchronize()
        result["cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    result.setdefault("seconds", time.perf_counter() - start)
    result["cpu_seconds"] = cpu_seconds() - cpu_start
    result["rss_mb"] = peak_rss_mb()


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


class FitTimer(pl.Callback):
    """Times a fit from setup (before the model moves and the loader starts) to the end of training, and
    counts the images it trained on (whichever loader the DataModule gave: decoding workers or resident
    batches)."""

    def __init__(self, result: dict):
        self.result = result

    def setup(self, trainer, pl_module, stage):
        self.result["images"] = 0
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.result["images"] += len(batch[1])

    def on_train_end(self, trainer, pl_module):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.result["seconds"] = time.perf_counter() - self.start


def rate(result: dict) -> float:
    return result["images"] / result["seconds"]


def cpu_rate(result: dict) -> float:
    return result["images"] / max(result["cpu_seconds"], 0.01)  # workers' CPU time is counted in 10 ms ticks


def memory(result: dict) -> str:
    cuda = f" / {result['cuda_mb']:.0f} CUDA" if "cuda_mb" in result else ""
    return f"{result['rss_mb']:.0f}{cuda}"


# the first four columns name the comparison, the rest are numbers
HEADER = [
    "measurement", "baseline", "ours", "target", "baseline img/s", "baseline img/CPU-s", "ours img/s",
    "ours img/CPU-s", "ratio", "CPU ratio", "peak MB (baseline, ours)",
]  # fmt: skip


def row(what: str, base_name: str, base: dict, ours_name: str, ours: dict, target: str = "") -> list[str]:
    """The cells of one comparison, in HEADER's order."""
    return [
        what,
        base_name,
        ours_name,
        target,
        f"{rate(base):.1f}",
        f"{cpu_rate(base):.1f}",
        f"{rate(ours):.1f}",
        f"{cpu_rate(ours):.1f}",
        f"{rate(ours) / rate(base):.2f}x",
        f"{cpu_rate(ours) / cpu_rate(base):.2f}x",
        f"{memory(base)}, {memory(ours)}",
    ]
