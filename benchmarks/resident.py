"""Training epochs of one fold through train.py's own path: data.resident=true against data.resident=false
(the loaders), side by side in one run, alternating, on the same files, model and settings.

    python benchmarks/resident.py --folder ../shared/fma_small_dev          # experiment=fma_small, width 32
    python benchmarks/resident.py --folder data/demo --max-per-class 8 --repeat 1   # a quick check

Each pass is a fresh DataModule, model and Trainer fitting fold 0 for --epochs epochs with no validation;
an epoch's time runs from its start to its end (Lightning's hooks), the first epoch included (it starts the
loader's workers; the resident set is decoded before it, timed apart as "decode once"). The ratio is the
loader path's best epoch time over the resident path's: above 1, the resident path is faster.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import torch
from hardware import machine
from hydra.utils import instantiate
from measure import quiet_console, timing_trainer

from genre_lightning.compose import train_config
from genre_lightning.performance import supported_precision
from genre_lightning.tables import align
from genre_lightning.training.library_noise import known_library_warnings


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="genre folders of spectrogram images")
    parser.add_argument("--experiment", default="fma_small", help="default: fma_small")
    parser.add_argument("--width", type=int, default=32, help="model.width (default: 32)")
    parser.add_argument("--max-per-class", type=int, help="use this many images per genre (default: all)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per pass (default: 2)")
    parser.add_argument("--repeat", type=int, default=2, help="passes of each path, alternating (default: 2)")
    parser.add_argument("--trainer", default="cpu", help="cpu | gpu (default: cpu)")
    parser.add_argument("overrides", nargs="*", help="more train.py overrides, e.g. data.num_workers=2")
    return parser.parse_args(argv)


def config(args, work: Path, resident: bool):
    return train_config(
        [
            f"experiment={args.experiment}",
            f"trainer={args.trainer}",
            f"model.width={args.width}",
            f"data.root={args.folder}",
            "data.fold=0",
            f"data.resident={resident}",
            f"data.max_per_class={args.max_per_class or 'null'}",
            # the paths a pass reads: the cache's folder (data.cache=true) and the Trainer's root
            f"paths.data_dir={work}",
            f"paths.output_dir={work}/run",
            *args.overrides,
        ]
    )


class EpochTimer(pl.Callback):
    def __init__(self):
        self.epochs: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.epochs.append(time.perf_counter() - self.start)


def one_pass(cfg, epochs: int) -> dict:
    """Fit fold 0 for ``epochs`` epochs; the epochs' seconds, and the seconds the loader took to make."""
    datamodule = instantiate(cfg.data)
    datamodule.setup()
    datamodule.use_fold(0)
    model = instantiate(cfg.model, class_names=datamodule.class_names, preprocessing=datamodule.preprocessing)
    timer = EpochTimer()
    precision = supported_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    trainer = timing_trainer(cfg, precision, [timer], epochs)
    # the loader made once before the fit (the resident set decoded then), timed apart from the epochs
    datamodule.trainer = trainer
    start = time.perf_counter()
    loader = datamodule.train_dataloader()
    made = time.perf_counter() - start
    images = len(loader) * cfg.data.batch_size
    trainer.fit(model, datamodule=datamodule)
    return {"epochs": timer.epochs, "made": made, "images": images}


def main(argv=None) -> None:
    args = parse_args(argv)
    quiet_console()
    passes: dict[bool, list[dict]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.repeat):
            for resident in (False, True):
                cfg = config(args, Path(work), resident)
                with known_library_warnings(cfg.trainer):
                    passes[resident].append(one_pass(cfg, args.epochs))
    best = {path: min(t for p in runs for t in p["epochs"]) for path, runs in passes.items()}
    images = passes[True][0]["images"]
    rows = [["path", "decode once s", "best epoch s", "img/s"]]
    for path, name in ((False, "loaders (data.resident=false)"), (True, "resident (data.resident=true)")):
        made = min(p["made"] for p in passes[path])
        rows.append([name, f"{made:.1f}", f"{best[path]:.2f}", f"{images / best[path]:.0f}"])
    print(f"{machine(torch.device('cuda' if args.trainer == 'gpu' else 'cpu'))}")
    print(f"experiment={args.experiment} model.width={args.width}, fold 0: {images} training images/epoch")
    print(align(rows, left=1))
    ratio, load = best[False] / best[True], os.getloadavg()[0]
    print(f"resident / loaders speed: {ratio:.2f}x (load average {load:.1f})")


if __name__ == "__main__":
    main()
