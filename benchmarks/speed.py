"""The published project's pipeline against ours, side by side in one run on the same files and network.

    python benchmarks/speed.py                              # 64 generated 1984x1478 JPEGs, resnet50 at 224 px
    python benchmarks/speed.py --folder data/spectrograms --images 256
    python benchmarks/speed.py --device cuda --images 2048 --epochs 3 --batch-size 128 --workers 16
    python benchmarks/speed.py data.resident=false          # our side through the decoding loaders

published: PIL decodes the full 1984x1478 JPEG, then Resize(256) + CenterCrop(224) + ToTensor + Normalize
           in the loader workers; fp32 network in a plain PyTorch loop.
ours:      the train config (trainer=cpu or trainer=gpu): JPEGs decoded at 1/4 scale, uint8 batches,
           optional decoded cache, bf16 autocast where the hardware has it, channels_last, trained by
           Lightning; under --compile the network is compiled in our plain loops too, as Trainer.fit
           compiles it. Our batches come from whichever path the config gives (data.resident: the images
           kept decoded on the device, or loader workers decoding them), named in the table.

Figures are images per second of wall time (img/s) and of CPU time summed over the process and its
loader workers (img/CPU-s, which other programs on the machine disturb less); training passes are the
best of --repeat. Peak memory is the main process's resident set (plus CUDA's allocations on a GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from hardware import machine
from hydra.utils import instantiate
from measure import HEADER, FitTimer, best, measured, quiet_console, rate, row, timing_trainer
from PIL import Image
from published_pipeline import published_loader, published_read, published_transform, resize_size
from torch.utils.data import DataLoader

from genre_lightning.audio.spectrogram import SpectrogramSpec, render
from genre_lightning.compose import train_config
from genre_lightning.data.resident import ResidentBatches
from genre_lightning.data.splits import discover
from genre_lightning.demo.synth import GENRES, synthesize
from genre_lightning.models.resnet import build_resnet
from genre_lightning.performance import inference_autocast, supported_precision
from genre_lightning.tables import align


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64, help="images to use (default: 64)")
    parser.add_argument(
        "--folder", type=Path, help="genre folders of images to use instead of generated ones"
    )
    parser.add_argument(
        "--arch", default="resnet50", help="resnet18 | resnet34 | resnet50 (default: resnet50)"
    )
    parser.add_argument("--image-size", type=int, default=224, help="model input size (default: 224)")
    parser.add_argument("--batch-size", type=int, default=16, help="default: 16")
    parser.add_argument(
        "--workers", type=int, default=2, help="DataLoader workers on both sides (default: 2)"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--epochs", type=int, default=1, help="epochs in each training pass (default: 1)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="time each training pass this many times, keep the best"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also torch.compile our network (model.compile=true)"
    )
    parser.add_argument(
        "overrides", nargs="*", help="more train.py overrides for our side, e.g. data.resident=false"
    )
    args = parser.parse_args(argv)
    if args.folder is None and args.images < 2 * len(GENRES):
        parser.error(f"--images must be at least {2 * len(GENRES)}: two per genre, one per fold")
    return args


# ---------------------------------------------------------------- inputs


def generate_images(folder: Path, count: int) -> None:
    """`count` 1984x1478 spectrogram JPEGs in genre folders, at the real ones' JPEG quality (75).

    One 30 s clip per genre is synthesised and rendered by the project's own renderer; further images
    of a genre are that picture shifted in time, which costs a JPEG encode instead of a render.
    """
    spec = SpectrogramSpec()
    for g, genre in enumerate(GENRES):
        share = len(range(g, count, len(GENRES)))
        picture = np.asarray(
            render(synthesize(genre, np.random.default_rng(g), 30.0, spec.sample_rate), spec)
        )
        (folder / genre).mkdir(parents=True)

        def save(i: int, picture=picture, genre=genre, share=share) -> None:
            shifted = np.roll(picture, i * spec.width // share, axis=1).astype(np.int16)
            # and a faint pattern of its own (+-8 levels in 8 x 8 patches): copies shifted by a few columns
            # are duplicates to the scan, which would keep a genre's images together in one part
            rows, columns = -(-shifted.shape[0] // 8), -(-shifted.shape[1] // 8)
            patches = np.random.default_rng(i).normal(0, 8, (8, 8, 1)).round().astype(np.int16)
            pattern = patches.repeat(rows, axis=0).repeat(columns, axis=1)[
                : shifted.shape[0], : shifted.shape[1]
            ]
            image = (shifted + pattern).clip(0, 255).astype(np.uint8)
            Image.fromarray(image).save(folder / genre / f"{i:05d}.jpg", quality=75)

        with ThreadPoolExecutor() as pool:  # Pillow encodes without holding the GIL
            list(pool.map(save, range(share)))


def our_config(args, folder: Path, work: Path, cache: bool):
    """The train config as `python train.py trainer=cpu|gpu ...` composes it, over all images of `folder`."""
    per_class = math.ceil(args.images / len(discover(folder, None)[0]))
    overrides = [
        f"trainer={'gpu' if args.device == 'cuda' else 'cpu'}",
        f"model.arch={args.arch}",
        "model.weights=null",
        # no validation here, so nothing for ReduceLROnPlateau to step on
        "model.scheduler=null",
        f"model.compile={args.compile}",
        f"data.root={folder}",
        f"data.max_per_class={per_class}",
        "data.test_fraction=0",
        "data.num_folds=2",
        f"data.image_size={args.image_size}",
        f"data.resize_size={resize_size(args.image_size)}",
        f"data.batch_size={args.batch_size}",
        f"data.num_workers={args.workers}",
        f"data.pin_memory={args.device == 'cuda'}",
        f"data.cache={cache}",
        f"paths.data_dir={work}",
        f"paths.log_dir={work}/logs",
        f"paths.output_dir={work}/run",
        *args.overrides,
    ]
    return train_config(overrides)


# ---------------------------------------------------------------- the passes


def decode_pass(files: list[str], read, transform) -> dict:
    """Decode and transform every file in this process with one thread, as one loader worker does."""
    result, threads = {"images": len(files)}, torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with measured(torch.device("cpu"), result):
            for path in files:
                transform(read(path))
    finally:
        torch.set_num_threads(threads)
    return result


def loader_pass(loader: DataLoader) -> dict:
    """A later epoch of the loader: one pass first, so persistent workers are up and the cache is read
    once."""
    for _ in loader:
        pass
    result = {}
    with measured(torch.device("cpu"), result):
        result["images"] = sum(len(labels) for _, labels in loader)
    return result


def plain_training(
    model, batches, device: torch.device, amp: torch.dtype | None, optimizer_cfg, epochs: int = 1
) -> dict:
    """A plain PyTorch training loop: forward (autocast to `amp`), cross-entropy, backward, SGD step."""
    result = {"images": 0}
    with measured(device, result):
        model.to(device).train()
        optimizer = instantiate(optimizer_cfg, params=model.parameters())
        for images, labels in (batch for _ in range(epochs) for batch in batches):
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            result["images"] += len(labels)
    return result


def lightning_training(cfg, module, loader, device: torch.device, precision: str, epochs: int) -> dict:
    """Trainer.fit over the loader; the images counted as they are trained on."""
    result = {}
    trainer = timing_trainer(cfg, precision, [FitTimer(result)], epochs)
    with measured(device, result):
        trainer.fit(module, train_dataloaders=loader)
    return result


def inference(model, loader, device: torch.device, fast: bool) -> dict:
    """Class probabilities for every batch; `fast`: bf16 autocast where native, as predict.py runs."""
    result = {"images": 0}
    with measured(device, result):
        model.to(device).eval()
        with torch.inference_mode(), inference_autocast(device) if fast else contextlib.nullcontext():
            for images, _ in loader:
                model(images.to(device, non_blocking=True)).float().softmax(dim=-1).cpu()
                result["images"] += len(images)
    return result


def warm_up(
    model, device: torch.device, amp: torch.dtype | None, example: torch.Tensor, optimizer_cfg
) -> None:
    """Two steps on throwaway weights: oneDNN and cuDNN pick and build their kernels on first use."""
    batch = [(example, torch.zeros(len(example), dtype=torch.long))] * 2
    plain_training(model, batch, device, amp, optimizer_cfg)
    inference(model, batch[:1], device, fast=amp is not None)


# ---------------------------------------------------------------- the sections


@dataclass
class Setup:
    """What every section measures on: the files, our DataModule (decoding and cached), the settings."""

    args: argparse.Namespace
    device: torch.device
    cfg: object
    cached_cfg: object
    ours: object
    cached: object
    files: list[str]
    labels: list[int]
    precision: str
    amp: torch.dtype | None

    @property
    def items(self) -> list[tuple[str, int]]:
        return list(zip(self.files, self.labels))

    def module(self, fit: bool = False):
        """Our network as train.py builds it, channels_last. ``fit``: also set up as Trainer.fit sets it up
        (compiled under --compile), for the plain loops that stand in for a fit; Lightning does that itself,
        and prediction runs the network uncompiled."""
        module = instantiate(
            self.cfg.model, class_names=self.ours.class_names, preprocessing=self.ours.preprocessing
        )
        if fit:
            module.setup("fit")
        return module.to(memory_format=torch.channels_last)

    def path(self, cached: bool = False) -> str:
        """The data path our config gives (data.resident), as the table names it."""
        loader = (self.cached if cached else self.ours).loader(self.items[:1], train=False)
        return "resident" if isinstance(loader, ResidentBatches) else "loaders"

    def published_loader(self, train: bool) -> DataLoader:
        a = self.args
        return published_loader(
            self.files, self.labels, a.image_size, a.batch_size, a.workers, train, self.device.type == "cuda"
        )


def build_setup(args, folder: Path, work: Path) -> tuple[Setup, dict]:
    """Our DataModule over the files, and the decoded cache built (and timed) once."""
    cfg, cached_cfg = our_config(args, folder, work, cache=False), our_config(args, folder, work, cache=True)
    ours = instantiate(cfg.data)
    ours.setup()
    files, labels = [p for p, _ in ours.split.items], [y for _, y in ours.split.items]
    cached, build = instantiate(cached_cfg.data), {"images": len(files)}
    with measured(torch.device("cpu"), build):
        cached.prepare_data()
        cached.setup()
    precision = supported_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    # what Lightning's mixed precision autocasts to, for the plain loop with the same settings
    amp = {"bf16": torch.bfloat16, "16": torch.float16}.get(precision.split("-")[0])
    device = torch.device(args.device)
    return Setup(args, device, cfg, cached_cfg, ours, cached, files, labels, precision, amp), build


def measure_decoding(s: Setup) -> dict:
    """Decoding and eval transforms in one process, on a sample of the files (the full decode is slow)."""
    sample = s.files[:256]
    return {
        "published": decode_pass(sample, published_read, published_transform(s.args.image_size)),
        "ours": decode_pass(sample, s.ours.read, s.ours.eval_preset),
        "cached": decode_pass(sample, s.cached.read, s.cached.eval_preset),
    }


def measure_loaders(s: Setup) -> dict:
    """The train loaders alone (train transforms, workers)."""
    return {
        "published": loader_pass(s.published_loader(train=True)),
        "ours": loader_pass(s.ours.loader(s.items, train=True)),
        "cached": loader_pass(s.cached.loader(s.items, train=True)),
    }


def measure_training(s: Setup) -> dict:
    """Training epochs: the published loop, ours by hand and in Lightning, from the cache, and from
    pre-loaded batches."""
    args, device, optimizer = s.args, s.device, s.cfg.model.optimizer
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(s.cfg.trainer.get("benchmark"))
    classes = s.ours.class_names
    ours_loader, cached_loader, published_train = (
        s.ours.loader(s.items, True),
        s.cached.loader(s.items, True),
        s.published_loader(True),
    )
    example = next(iter(ours_loader))[0].to(device)
    warm_up(s.module(fit=True), device, s.amp, example, optimizer)
    warm_up(
        build_resnet(args.arch, len(classes), 0.5, weights=None),
        device,
        None,
        (example.float() / 255).to(device),
        optimizer,
    )
    print("training...", flush=True)
    preloaded = [(x.to(device), y.to(device)) for x, y in ours_loader]
    runs = {name: [] for name in ("published", "plain", "lightning", "cached", "preloaded")}
    for _ in range(args.repeat):
        published = build_resnet(args.arch, len(classes), 0.5, weights=None)
        runs["published"].append(
            plain_training(published, published_train, device, None, optimizer, args.epochs)
        )
        runs["plain"].append(
            plain_training(s.module(fit=True), ours_loader, device, s.amp, optimizer, args.epochs)
        )
        runs["lightning"].append(
            lightning_training(s.cfg, s.module(), ours_loader, device, s.precision, args.epochs)
        )
        runs["cached"].append(
            lightning_training(s.cached_cfg, s.module(), cached_loader, device, s.precision, args.epochs)
        )
        runs["preloaded"].append(
            plain_training(s.module(fit=True), preloaded, device, s.amp, optimizer, args.epochs)
        )
    return {name: best(results) for name, results in runs.items()}


def measure_inference(s: Setup) -> dict:
    """Batch inference over every image: the published fp32 full-decode pipeline against predict.py's
    settings."""
    published = build_resnet(s.args.arch, len(s.ours.class_names), 0.5, weights=None)
    return {
        "published": inference(published, s.published_loader(train=False), s.device, fast=False),
        "ours": inference(s.module(), s.ours.loader(s.items, train=False), s.device, fast=True),
    }


def describe(s: Setup, folder: Path) -> None:
    args, n = s.args, len(s.files)
    size_kb = sum(Path(f).stat().st_size for f in s.files) / n / 1024
    width, height = Image.open(s.files[0]).size
    print(f"machine: {machine(s.device)}; torch {torch.__version__}, device {s.device}", flush=True)
    print(f"load average at start (other programs on the machine): {os.getloadavg()[0]:.1f}", flush=True)
    print(
        f"data: {n} images ({width}x{height}, {size_kb:.0f} KB on average) "
        f"from {args.folder or 'generated'}; "
        f"{args.arch} at {args.image_size} px, batch {args.batch_size}, {args.workers} loader workers; "
        f"ours: precision {s.precision}, channels_last, compile {args.compile}, "
        f"data path {s.path()}",
        flush=True,
    )


def comparisons(s: Setup, decode: dict, load: dict, train: dict, infer: dict) -> list[tuple]:
    """The table's rows: what is measured, the baseline and its result, ours and its result, the target."""
    workers = s.args.workers
    loader_pass = f"train loader pass ({workers} workers)"
    # our batches come through the path the config gives: resident, or decoding loaders
    ours, cached = f"ours ({s.path()})", f"ours ({s.path(cached=True)}, cached)"
    return [
        ("decode + eval transforms (1 worker)", "published: full decode", decode["published"],
         "ours: DCT-scaled decode", decode["ours"], ">= 5x"),
        ("decode + eval transforms (1 worker)", "published: full decode", decode["published"],
         "ours: from the cache", decode["cached"], ""),
        (loader_pass, ours, load["ours"], cached, load["cached"], ">= 3x"),
        (loader_pass, "published", load["published"], ours, load["ours"], ""),
        ("training epoch", "published: fp32 plain loop", train["published"], f"{ours}: Lightning",
         train["lightning"], ">= 2x"),
        ("training epoch, same settings", f"{ours}: plain loop", train["plain"], f"{ours}: Lightning",
         train["lightning"], "overhead <= 5%"),
        ("training epoch", f"{ours}: Lightning", train["lightning"], f"{cached}: Lightning",
         train["cached"], ""),
        ("training epoch, plain loop", "ours: pre-loaded batches", train["preloaded"],
         f"{ours}: plain loop", train["plain"], ""),
        ("batch inference", "published: fp32, full decode", infer["published"], "ours", infer["ours"], ""),
    ]  # fmt: skip


def report(s: Setup, build: dict, decode: dict, load: dict, train: dict, infer: dict) -> None:
    rows = [row(*comparison) for comparison in comparisons(s, decode, load, train, infer)]
    print()
    print(align([HEADER, *rows], left=4, markdown=True))
    print()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(
        "Lightning overhead over the plain loop with the same settings: "
        f"{rate(train['plain']) / rate(train['lightning']) - 1:+.1%}"
    )
    busy = rate(train["plain"]) / rate(train["preloaded"])
    print(
        f"data loading keeps the {'GPU' if s.device.type == 'cuda' else 'CPU'} {busy:.0%} "
        "as busy as pre-loaded batches do"
    )
    print(
        f"cache: {s.cached.read.nbytes / len(s.files) / 1024:.0f} KB per image, "
        f"built at {rate(build):.1f} img/s ({s.args.workers} workers)"
    )


def main(argv=None) -> None:
    args = parse_args(argv)
    quiet_console()
    warnings.filterwarnings("ignore", module="lightning")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="genre-speed-") as tmp:
        work = Path(tmp)
        folder = args.folder
        if folder is None:
            folder = work / "images"
            generate_images(folder, args.images)
        setup, build = build_setup(args, folder, work)
        describe(setup, folder)
        decode, load = measure_decoding(setup), measure_loaders(setup)
        train, infer = measure_training(setup), measure_inference(setup)
        report(setup, build, decode, load, train, infer)


if __name__ == "__main__":
    main()
