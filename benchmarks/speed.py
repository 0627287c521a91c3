"""The seed project's pipeline against ours, side by side in one run on the same files and network.

    python benchmarks/speed.py                              # 64 generated 1984x1478 JPEGs, resnet50 at 224 px
    python benchmarks/speed.py --folder data/spectrograms --images 256
    python benchmarks/speed.py --device cuda --images 2048 --epochs 3 --batch-size 128 --workers 16

seed: PIL decodes the full 1984x1478 JPEG, then Resize(256) + CenterCrop(224) + ToTensor + Normalize in
      the loader workers; fp32 network in a plain PyTorch loop.
ours: the train config (trainer=cpu or trainer=gpu): JPEGs decoded at 1/4 scale, uint8 batches, optional
      decoded cache, bf16 autocast where the hardware has it, channels_last, trained by Lightning.

Figures are images per second of wall time (img/s) and of CPU time summed over the process and its
loader workers (img/CPU-s, which other programs on the machine disturb less); training passes are the
best of --repeat. Peak memory is the main process's resident set (plus CUDA's allocations on a GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import multiprocessing
import os
import platform
import re
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torchvision import transforms  # noqa: E402

from genre_lightning.data import ImageFiles, discover, load_image  # noqa: E402
from genre_lightning.demo_data import GENRES, synthesize  # noqa: E402
from genre_lightning.model import build_resnet  # noqa: E402
from genre_lightning.performance import bf16_is_fast, inference_autocast, supported_precision  # noqa: E402
from genre_lightning.spectrogram import SpectrogramSpec, render  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64, help="images to use (default: 64)")
    parser.add_argument("--folder", type=Path, help="genre folders of images to use instead of generated ones")
    parser.add_argument("--arch", default="resnet50", help="resnet18 | resnet34 | resnet50 (default: resnet50)")
    parser.add_argument("--image-size", type=int, default=224, help="model input size (default: 224)")
    parser.add_argument("--batch-size", type=int, default=16, help="default: 16")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers on both sides (default: 2)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--epochs", type=int, default=1, help="epochs in each training pass (default: 1)")
    parser.add_argument("--repeat", type=int, default=2, help="time each training pass this many times, keep the best")
    parser.add_argument("--compile", action="store_true", help="also torch.compile our network (model.compile=true)")
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
        picture = np.asarray(render(synthesize(genre, np.random.default_rng(g), 30.0, spec.sample_rate), spec))
        (folder / genre).mkdir(parents=True)

        def save(i: int, picture=picture, genre=genre, share=share) -> None:
            shifted = np.roll(picture, i * spec.width // share, axis=1)
            Image.fromarray(shifted).save(folder / genre / f"{i:05d}.jpg", quality=75)

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
        f"data.resize_size={resize_size(args)}",
        f"data.batch_size={args.batch_size}",
        f"data.num_workers={args.workers}",
        f"data.pin_memory={args.device == 'cuda'}",
        f"data.cache={cache}",
        f"paths.data_dir={work}",
        f"paths.log_dir={work}/logs",
        f"paths.output_dir={work}/run",
    ]
    with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "configs")):
        return compose(config_name="train", overrides=overrides)


def resize_size(args) -> int:
    return round(args.image_size * 256 / 224)


def seed_transform(args):
    return transforms.Compose(
        [
            transforms.Resize(resize_size(args)),
            transforms.CenterCrop(args.image_size),
            transforms.ToTensor(),
            transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )


# ---------------------------------------------------------------- measuring


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
    """Times a fit from setup (before the model moves and the loader starts) to the end of training."""

    def __init__(self, result: dict):
        self.result = result

    def setup(self, trainer, pl_module, stage):
        self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.result["seconds"] = time.perf_counter() - self.start


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
    """A later epoch of the loader: one pass first, so persistent workers are up and the cache is read once."""
    for _ in loader:
        pass
    result = {}
    with measured(torch.device("cpu"), result):
        result["images"] = sum(len(labels) for _, labels in loader)
    return result


def plain_training(model, batches, device: torch.device, amp: torch.dtype | None, optimizer_cfg, epochs: int = 1) -> dict:
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
    per_epoch = len(loader) * loader.batch_size if loader.drop_last else len(loader.dataset)
    result = {"images": per_epoch * epochs}
    trainer = instantiate(
        cfg.trainer,
        precision=precision,
        callbacks=[instantiate(cfg.callbacks.channels_last), FitTimer(result)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
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


def warm_up(model, device: torch.device, amp: torch.dtype | None, example: torch.Tensor, optimizer_cfg) -> None:
    """Two steps on throwaway weights: oneDNN and cuDNN pick and build their kernels on first use."""
    batch = [(example, torch.zeros(len(example), dtype=torch.long))] * 2
    plain_training(model, batch, device, amp, optimizer_cfg)
    inference(model, batch[:1], device, fast=amp is not None)


# ---------------------------------------------------------------- report


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name()} (bf16: {bf16_is_fast('cuda')}), {torch.get_num_threads()} CPU threads"
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)
    return f"{cpu}, {torch.get_num_threads()} threads, native bf16: {bf16_is_fast('cpu')}"


def rate(result: dict) -> float:
    return result["images"] / result["seconds"]


def cpu_rate(result: dict) -> float:
    return result["images"] / max(result["cpu_seconds"], 0.01)  # workers' CPU time is counted in 10 ms ticks


def memory(result: dict) -> str:
    cuda = f" / {result['cuda_mb']:.0f} CUDA" if "cuda_mb" in result else ""
    return f"{result['rss_mb']:.0f}{cuda}"


HEADER = [
    "| measurement | baseline | img/s | img/CPU-s | ours | img/s | img/CPU-s | ratio | CPU ratio | target | peak MB (baseline, ours) |",
    "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
]


def row(what: str, base_name: str, base: dict, ours_name: str, ours: dict, target: str = "") -> str:
    cells = [
        what,
        base_name,
        f"{rate(base):.1f}",
        f"{cpu_rate(base):.1f}",
        ours_name,
        f"{rate(ours):.1f}",
        f"{cpu_rate(ours):.1f}",
        f"{rate(ours) / rate(base):.2f}x",
        f"{cpu_rate(ours) / cpu_rate(base):.2f}x",
        target,
        f"{memory(base)}, {memory(ours)}",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv=None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    # Lightning's start-up banners and hints would bury the table
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="genre-speed-") as tmp:
        work = Path(tmp)
        folder = args.folder
        if folder is None:
            folder = work / "images"
            generate_images(folder, args.images)

        cfg = our_config(args, folder, work, cache=False)
        ours = instantiate(cfg.data)
        ours.setup()
        items = ours.split.items
        files, labels = [p for p, _ in items], [y for _, y in items]
        n = len(files)
        size_kb = sum(Path(f).stat().st_size for f in files) / n / 1024
        width, height = Image.open(files[0]).size
        precision = supported_precision(cfg.trainer.precision, cfg.trainer.accelerator)
        # what Lightning's mixed precision autocasts to, for the plain loop with the same settings
        amp = {"bf16": torch.bfloat16, "16": torch.float16}.get(precision.split("-")[0])
        print(f"machine: {machine(device)}; torch {torch.__version__}, device {device}", flush=True)
        print(f"load average at start (other programs on the machine): {os.getloadavg()[0]:.1f}", flush=True)
        print(
            f"data: {n} images ({width}x{height}, {size_kb:.0f} KB on average) from {args.folder or 'generated'}; "
            f"{args.arch} at {args.image_size} px, batch {args.batch_size}, {args.workers} loader workers; "
            f"ours: precision {precision}, channels_last, compile {args.compile}",
            flush=True,
        )

        seed_read, seed_tf = load_image, seed_transform(args)

        # -- decoding and transforms, one process (a sample: the seed's takes ~30 ms an image)
        sample = files[:256]
        decode_seed = decode_pass(sample, seed_read, seed_tf)
        decode_ours = decode_pass(sample, ours.read, ours.eval_transform)
        build = {"images": n}
        cached_cfg = our_config(args, folder, work, cache=True)
        cached = instantiate(cached_cfg.data)
        with measured(torch.device("cpu"), build):
            cached.prepare_data()
            cached.setup()
        decode_cached = decode_pass(sample, cached.read, cached.eval_transform)

        # -- loaders alone (train transforms, workers)
        seed_loader = DataLoader(
            ImageFiles(files, labels, seed_tf, seed_read), batch_size=args.batch_size, shuffle=True,
            drop_last=n > args.batch_size, num_workers=args.workers, pin_memory=device.type == "cuda",
        )
        ours_loader, cached_loader = ours.loader(items, train=True), cached.loader(items, train=True)
        load_seed, load_ours, load_cached = loader_pass(seed_loader), loader_pass(ours_loader), loader_pass(cached_loader)

        # -- training
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = bool(cfg.trainer.get("benchmark"))
        classes = ours.class_names

        def our_module():
            module = instantiate(cfg.model, class_names=classes, preprocessing=ours.preprocessing)
            module.configure_model()
            return module.to(memory_format=torch.channels_last)

        seed_model = build_resnet(args.arch, len(classes), 0.5, weights=None)
        example = next(iter(ours_loader))[0].to(device)
        warm_up(our_module(), device, amp, example, cfg.model.optimizer)
        warm_up(seed_model, device, None, (example.float() / 255).to(device), cfg.model.optimizer)

        print("training...", flush=True)
        preloaded = [(x.to(device), y.to(device)) for x, y in ours_loader]
        seed_runs, plain_runs, lightning_runs, cached_runs, preloaded_runs = [], [], [], [], []
        for _ in range(args.repeat):
            seed_model = build_resnet(args.arch, len(classes), 0.5, weights=None)
            seed_runs.append(plain_training(seed_model, seed_loader, device, None, cfg.model.optimizer, args.epochs))
            plain_runs.append(plain_training(our_module(), ours_loader, device, amp, cfg.model.optimizer, args.epochs))
            lightning_runs.append(lightning_training(cfg, our_module(), ours_loader, device, precision, args.epochs))
            cached_runs.append(lightning_training(cached_cfg, our_module(), cached_loader, device, precision, args.epochs))
            preloaded_runs.append(plain_training(our_module(), preloaded, device, amp, cfg.model.optimizer, args.epochs))
        del preloaded

        # -- batch inference over every image
        eval_seed = DataLoader(
            ImageFiles(files, labels, seed_tf, seed_read), batch_size=args.batch_size,
            num_workers=args.workers, pin_memory=device.type == "cuda",
        )
        infer_seed = inference(seed_model, eval_seed, device, fast=False)
        infer_ours = inference(our_module(), ours.loader(items, train=False), device, fast=True)

        seed_train, plain, lightning, lightning_cached, preloaded_run = map(
            best, [seed_runs, plain_runs, lightning_runs, cached_runs, preloaded_runs]
        )
        overhead = rate(plain) / rate(lightning) - 1
        busy = rate(plain) / rate(preloaded_run)
        cache_bytes = cached.read.nbytes / n

    print()
    print(*HEADER, sep="\n")
    print(row("decode + eval transforms (1 worker)", "seed: full decode", decode_seed, "ours: DCT-scaled decode", decode_ours, ">= 5x"))
    print(row("decode + eval transforms (1 worker)", "seed: full decode", decode_seed, "ours: from the cache", decode_cached))
    print(row(f"train loader pass ({args.workers} workers)", "ours: decoding", load_ours, "ours: cached", load_cached, ">= 3x"))
    print(row(f"train loader pass ({args.workers} workers)", "seed", load_seed, "ours: decoding", load_ours))
    print(row("training epoch", "seed: fp32 plain loop", seed_train, "ours: Lightning", lightning, ">= 2x"))
    print(row("training epoch, same settings", "ours: plain loop", plain, "ours: Lightning", lightning, "overhead <= 5%"))
    print(row("training epoch", "ours: Lightning", lightning, "ours: Lightning, cached", lightning_cached))
    print(row("training epoch, plain loop", "ours: pre-loaded batches", preloaded_run, "ours: from the loader", plain))
    print(row("batch inference", "seed: fp32, full decode", infer_seed, "ours", infer_ours))
    print()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"Lightning overhead over the plain loop with the same settings: {overhead:+.1%}")
    print(f"data loading keeps the {'GPU' if device.type == 'cuda' else 'CPU'} {busy:.0%} as busy as pre-loaded batches do")
    print(f"cache: {cache_bytes / 1024:.0f} KB per image, built at {rate(build):.1f} img/s ({args.workers} workers)")


if __name__ == "__main__":
    main()
