"""Training and prediction on one GPU, through the product, side by side in one run (issue 21's table).

    python benchmarks/gpu.py --root ../shared/fma_small_dev --device cuda --out gpu.md
    python benchmarks/gpu.py --root <tiny folder> --device cpu --epochs 2 --predict-images 8 \\
        --set model.width=8 --set data.image_size=32 ...     # every code path, tiny (gpu_check.sh cpu)

Rows, each measured here, now:
- the limit: pre-loaded uint8 batches on the device through the experiment's own module (compiled with
  --compile), AdamW, bf16 autocast where native: a plain loop, nothing else;
- one fold of `experiment=fma_small` through train.py's code (kfold.train): data.resident=true, the
  decoding loader (resident=false, cache=false) and the decoded cache (resident=false, cache=true); the
  rate is training images per second of the training epochs after the first (validation excluded), the
  first epoch's seconds beside it (compile, cuDNN's search);
- GPU busy: torch.cuda.utilization() sampled every 0.2 s while each row runs, the median;
- folds on one GPU: the user's whole run (`python train.py experiment=fma_small trainer=gpu data.root=...`,
  folds one after another in one process) by wall time; with --side-by-side also the same folds as
  separate processes at once, at --fold-epochs;
- prediction: predict.py's code (predict_files) on generated seed-size 1984x1478 JPEGs, decode=batched
  (on the device) and decode=pil.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from hardware import machine
from hydra.utils import instantiate
from measure import quiet_console
from omegaconf import open_dict
from speed import generate_images

from genre_lightning.compose import compose_train
from genre_lightning.data.splits import discover
from genre_lightning.errors import UserError
from genre_lightning.performance import bf16_is_fast
from genre_lightning.predict.ensemble import Ensemble
from genre_lightning.predict.inference import file_loader, predict_files
from genre_lightning.training.kfold import train

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "fma_small_dev")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each one-fold row (default: 4)")
    parser.add_argument("--compile", action="store_true", help="model.compile=true in every row")
    parser.add_argument(
        "--compile-rows", action="store_true", help="also the limit and one fold with model.compile=true"
    )
    parser.add_argument("--full-run", action="store_true", help="time the user's whole run (every fold)")
    parser.add_argument("--full-run-timeout", type=float, default=240, help="seconds (default: 240)")
    parser.add_argument("--side-by-side", action="store_true", help="folds as processes at once vs in turn")
    parser.add_argument("--fold-epochs", type=int, default=4, help="epochs per fold with --side-by-side")
    parser.add_argument("--predict-images", type=int, default=512, help="seed-size JPEGs (default: 512)")
    parser.add_argument("--predict-batch", type=int, default=128, help="default: 128")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a config override for every run"
    )
    parser.add_argument("--out", type=Path, help="also write the table (markdown) here")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- measuring


class Busy:
    """torch.cuda.utilization() every 0.2 s in a thread while the block runs; the median, in percent."""

    def __init__(self, device: str):
        self.device, self.samples, self.running = device, [], False

    def __enter__(self):
        if self.device == "cuda":
            self.running = True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.samples.append(torch.cuda.utilization())
            time.sleep(0.2)

    def __exit__(self, *exc):
        if self.running:
            self.running = False
            self.thread.join()

    @property
    def median(self) -> str:
        return f"{statistics.median(self.samples):.0f}%" if self.samples else "n/a"


class EpochTimer(pl.Callback):
    """Seconds of each training epoch (validation excluded) and the images it trained on."""

    def __init__(self):
        self.seconds, self.images = [], 0

    def _sync(self, module):
        if module.device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_epoch_start(self, trainer, pl_module):
        self._sync(pl_module)
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        self._sync(pl_module)
        self.seconds.append(time.perf_counter() - self.started)
        self.images = trainer.num_training_batches * trainer.datamodule.settings.batch_size

    def rate(self) -> float:
        later = self.seconds[1:] or self.seconds
        return self.images / statistics.median(later)


def config(args, work: Path, *overrides: str):
    """The train config as `python train.py experiment=fma_small trainer=gpu|cpu ...` composes it."""
    trainer = "gpu" if args.device == "cuda" else "cpu"
    overrides = [
        "experiment=fma_small",
        f"trainer={trainer}",
        f"data.root={args.root}",
        f"model.compile={args.compile}",
        "trainer.enable_progress_bar=false",
        *args.set,
        *overrides,
    ]
    return compose_train(overrides, Path(tempfile.mkdtemp(dir=work)) / "run", data_dir=work)


def one_fold(args, work: Path, *overrides: str) -> dict:
    """One fold of the experiment through kfold.train, its training epochs timed."""
    cfg = config(args, work, "data.fold=0", "test=false", f"trainer.max_epochs={args.epochs}", *overrides)
    with open_dict(cfg):
        cfg.callbacks.epoch_timer = {"_target_": "gpu.new_timer"}
    with Busy(args.device) as busy:
        try:
            train(cfg)
        except UserError as err:
            return {"error": str(err).splitlines()[0][:100]}
    # kfold built the timer from the config, through the module imported as `gpu` (this file runs as
    # __main__, a module of its own)
    timer = importlib.import_module("gpu").TIMERS[-1]
    return {
        "rate": timer.rate(),
        "first": timer.seconds[0],
        "busy": busy.median,
        "checkpoint": next(Path(cfg.paths.output_dir).glob("fold_0/checkpoints/*.ckpt")),
    }


TIMERS: list[EpochTimer] = []


def new_timer() -> EpochTimer:
    TIMERS.append(EpochTimer())
    return TIMERS[-1]


def preloaded(args, work: Path, *overrides: str) -> dict:
    """The limit: the experiment's module (compiled as configured) on uint8 batches already on the device,
    AdamW and bf16 autocast where native; no loader, no Lightning."""
    cfg = config(args, work, *overrides)
    device = torch.device(args.device)
    classes = discover(args.root, None)[0]
    module = instantiate(cfg.model, class_names=classes, preprocessing={}).to(device)
    module = module.to(memory_format=torch.channels_last)
    if cfg.model.compile:
        module.net.compile()
    height, width, batch = cfg.data.image_size, cfg.data.transforms.crop_width, cfg.data.batch_size
    batches = [
        (
            torch.randint(0, 256, (batch, 3, height, width), dtype=torch.uint8, device=device),
            torch.randint(0, len(classes), (batch,), device=device),
        )
        for _ in range(8)
    ]
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3, weight_decay=0.05)
    steps = max(20, len(batches))
    bf16 = bf16_is_fast(device.type)

    def run(count: int) -> None:
        for i in range(count):
            images, labels = batches[i % len(batches)]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(module(images).float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    started = time.perf_counter()
    run(3)  # torch.compile (default mode) and cuDNN's search
    first = time.perf_counter() - started
    with Busy(args.device) as busy:
        started = time.perf_counter()
        run(steps)
        seconds = time.perf_counter() - started
    return {"rate": steps * batch / seconds, "first": first, "busy": busy.median}


def full_run(args, work: Path, extra: list[str], timeout: float) -> dict:
    """`python train.py experiment=fma_small trainer=... data.root=...` as a user starts it, by wall time."""
    trainer = "gpu" if args.device == "cuda" else "cpu"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "experiment=fma_small",
        f"trainer={trainer}",
        f"data.root={args.root}",
        f"paths.log_dir={work / 'logs'}",
        f"paths.data_dir={work}",
        f"model.compile={args.compile}",
        *args.set,
        *extra,
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s (stopped)"}
    seconds = time.perf_counter() - started
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:100]}
    return {"seconds": seconds}


def side_by_side(args, work: Path, folds: int, timeout: float) -> dict:
    """`folds` folds as that many processes at once (data.fold=k each), by wall time."""
    started = time.perf_counter()
    with Busy(args.device) as busy:
        threads = []
        results = [None] * folds
        for k in range(folds):
            extra = [f"data.fold={k}", f"trainer.max_epochs={args.fold_epochs}", "test=false"]

            def go(k=k, extra=extra):
                results[k] = full_run(args, work / f"side_{k}", extra, timeout)

            threads.append(threading.Thread(target=go))
            threads[-1].start()
        for thread in threads:
            thread.join()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        return {"error": errors[0]}
    return {"seconds": time.perf_counter() - started, "busy": busy.median}


def prediction(args, work: Path, checkpoint: Path) -> dict:
    """predict.py's code on generated 1984x1478 JPEGs, batched on the device and with PIL, in images/s."""
    folder = work / "seed_size"
    generate_images(folder, args.predict_images)
    files = sorted(folder.glob("*/*.jpg"))
    rates = {}
    for decode in ("batched", "pil"):
        ensemble = Ensemble([checkpoint], args.device, decode=decode)
        load = file_loader(ensemble, None)
        predict_files(ensemble, files[: args.predict_batch], load, args.predict_batch)  # warm-up
        if args.device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        predictions = predict_files(ensemble, files, load, args.predict_batch)
        rates[decode] = len(files) / (time.perf_counter() - started)
        assert not any(p.error for p in predictions), [p.error for p in predictions if p.error][:1]
    return rates


# ---------------------------------------------------------------- the table


def main(argv=None) -> None:
    args = parse_args(argv)
    quiet_console()
    # the table alone: kfold's lines per epoch and fold would bury it
    logging.getLogger("genre_lightning").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    label = "" if args.device == "cuda" else " (CPU: code paths only, not the GPU figures)"
    lines = [
        f"machine: {machine(torch.device(args.device))}{label}",
        f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"data: {args.root}; overrides: {' '.join(args.set) or 'none'}; compile: {args.compile}",
        "",
        "| row | img/s | of the limit | first s (epoch; limit: 3 steps) | GPU busy |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]

    def show(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    for line in lines:
        print(line, flush=True)
    with tempfile.TemporaryDirectory(prefix="genre-gpu-") as tmp:
        work = Path(tmp)
        limit = preloaded(args, work)
        show(f"| pre-loaded batches (the limit) | {limit['rate']:.0f} | 1.00 | {limit['first']:.1f} | "
             f"{limit['busy']} |")  # fmt: skip
        if args.compile_rows and not args.compile:
            compiled = preloaded(args, work, "model.compile=true")
            show(
                f"| pre-loaded batches, model.compile=true | {compiled['rate']:.0f} | "
                f"{compiled['rate'] / limit['rate']:.2f} | {compiled['first']:.1f} | {compiled['busy']} |"
            )
        # a build without data.resident (before issue 21's DataModule) runs the loaders as they are
        data = config(args, work).data  # the settings every row starts from
        loaders = ["data.resident=false"] if "resident" in data else []
        rows = {
            "resident (data.resident=true)": ["data.resident=true"],
            "decoding loader (resident=false, cache=false)": [*loaders, "data.cache=false"],
            "cached loader (resident=false, cache=true)": [*loaders, "data.cache=true"],
        }
        if args.compile_rows and not args.compile:
            fastest = ["data.resident=true"] if loaders else ["data.cache=true"]
            rows[f"{fastest[0]}, model.compile=true"] = [*fastest, "model.compile=true"]
        checkpoint = None
        for name, overrides in rows.items():
            if "data.resident=true" in overrides and not loaders:
                show(f"| {name} | not run: this build has no data.resident | | | |")
                continue
            result = one_fold(args, work, *overrides)
            if "error" in result:
                show(f"| {name} | not run: {result['error']} | | | |")
                continue
            checkpoint = checkpoint or result["checkpoint"]
            show(
                f"| {name} | {result['rate']:.0f} | {result['rate'] / limit['rate']:.2f} | "
                f"{result['first']:.1f} | {result['busy']} |"
            )
        if args.full_run:
            result = full_run(args, work / "full", [], args.full_run_timeout)
            value = result.get("error") or f"{result['seconds']:.0f} s wall"
            name = f"whole {data.num_folds}-fold run, folds in turn in one process (as a user starts it)"
            show(f"| {name} | {value} | | | |")
        if args.side_by_side:
            extra = [f"trainer.max_epochs={args.fold_epochs}", "test=false", "data.fold=null"]
            result = full_run(args, work / "turn", extra, args.full_run_timeout)
            value = result.get("error") or f"{result['seconds']:.0f} s wall"
            show(f"| 5 folds x {args.fold_epochs} epochs in turn, one process | {value} | | | |")
            result = side_by_side(args, work, 5, args.full_run_timeout)
            value = result.get("error") or f"{result['seconds']:.0f} s wall"
            show(f"| 5 folds x {args.fold_epochs} epochs as 5 processes at once | {value} | | | "
                 f"{result.get('busy', '')} |")  # fmt: skip
        if checkpoint is not None:
            rates = prediction(args, work, checkpoint)
            show(f"| prediction, 1984x1478 JPEGs, decode=batched | {rates['batched']:.0f} | | | |")
            show(f"| prediction, 1984x1478 JPEGs, decode=pil | {rates['pil']:.0f} | | | |")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
