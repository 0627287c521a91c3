"""Search from-scratch recipes fast: every config trained on some folds with the data kept on the device.

    python benchmarks/recipe_sweep.py --folder ../shared/fma_small_dev --device cuda      # the search below
    python benchmarks/recipe_sweep.py --folder ../shared/fma_small_dev --folds 0,1,2,3,4 \\
        --configs '[{"width": 64, "epochs": 60, "mixup": 0.2}]'                          # + fold ensemble

A probe for choosing a recipe, not a way to train one: train.py's loaders, callbacks and checkpoints
cost more than the network on 128 px images, so each config here is a plain loop over the project's
own split (make_split, seed 123), model (GenreClassifier), batch augmentations (SpecAugment, Mixup),
schedule (warmup_cosine) and calibration, with the decoded images resident on the device. Several
worker processes share one GPU. Each run also keeps an exponential moving average of the weights
(as callbacks=ema) and reports both. Two knobs are not train.py options: `maxpool: false` (no stem
max-pool, 4x the compute) and `coord: true` (a frequency-position input channel); both measured no
better. Prints one row per config and weights: mean validation and test accuracy over the folds,
calibrated test ECE, and with all folds the fold ensemble. Confirm a choice with benchmarks/accuracy.py.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from genre_lightning.data.augment import Mixup, SpecAugment
from genre_lightning.data.splits import discover, make_split
from genre_lightning.metrics import scores
from genre_lightning.models.classifier import GenreClassifier, decay_matrices_only
from genre_lightning.models.schedules import warmup_cosine
from genre_lightning.training.calibration import fit_temperature

# experiment=fma_small as it was before this search (width 32, 20 epochs, no mixup); configs override it
BASE = dict(
    width=32, maxpool=True, coord=False, epochs=20, crop=96, mixup=0.0, label_smoothing=0.1, opt="adamw",
    lr=2e-3, weight_decay=0.05, warmup=0.05, batch_size=64, dropout=0.3, ema=0.998, seed=0,
)  # fmt: skip
SEARCH = [
    {}, {"width": 64, "epochs": 30}, {"width": 64, "epochs": 60}, {"width": 64, "epochs": 100},
    {"epochs": 60}, {"width": 64, "epochs": 60, "mixup": 0.2}, {"width": 64, "epochs": 60, "crop": 112},
    {"width": 64, "epochs": 60, "opt": "sgd", "lr": 0.05, "weight_decay": 5e-4},
    {"width": 64, "epochs": 60, "coord": True}, {"maxpool": False, "epochs": 40},
    {"maxpool": False, "width": 64, "epochs": 40},
    {"maxpool": False, "width": 64, "epochs": 40, "coord": True},
    {"maxpool": False, "epochs": 80, "mixup": 0.2},
]  # fmt: skip
STATE = {}  # each worker process's data, on its device


def load(folder: Path, size: int = 128):
    """The split's images decoded to uint8 N x 3 x size x size, their labels, and index tensors of the
    test set and each fold."""
    classes, files = discover(folder, None)
    split = make_split(files, 0.2, 5, 123)
    images = [np.asarray(Image.open(path).convert("RGB").resize((size, size))) for path, _ in split.items]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([label for _, label in split.items])
    ends = np.cumsum([len(split.test)] + [len(fold) for fold in split.folds]).tolist()
    parts = [torch.arange(start, end) for start, end in zip([0, *ends[:-1]], ends)]
    return classes, x, y, parts


def start_worker(data: dict, device: str) -> None:
    torch.set_num_threads(2)
    torch.backends.cudnn.benchmark = True
    STATE.update(
        {k: [p.to(device) for p in v] if k == "parts" else v for k, v in data.items()}, device=device
    )
    STATE["x"], STATE["y"] = STATE["x"].to(device), STATE["y"].to(device)


class FrequencyChannel(nn.Module):
    """Adds an input channel holding each row's height (+1 top, -1 bottom): where in frequency a
    pattern is, which convolutions and global pooling otherwise see only near the edges."""

    def __init__(self, net: nn.Module):
        super().__init__()
        stem = net.conv1
        net.conv1 = nn.Conv2d(4, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.net = net

    def forward(self, x):
        n, _, h, w = x.shape
        rows = torch.linspace(1, -1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
        return self.net(torch.cat([x, rows], 1))


def network(c: dict, classes: list[str]) -> GenreClassifier:
    """The project's classifier (its input normalisation included), as experiment=fma_small builds it."""
    model = GenreClassifier(classes, arch="resnet18", weights=None, dropout=c["dropout"], width=c["width"])
    if not c["maxpool"]:
        model.net.maxpool = nn.Identity()
    if c["coord"]:
        model.net = FrequencyChannel(model.net)
    return model


def run(c: dict, fold: int) -> dict:
    """Train config c on fold; the validation and test logits of the last and the averaged weights."""
    started = time.perf_counter()
    x, y, parts, device = STATE["x"], STATE["y"], STATE["parts"], STATE["device"]
    classes = len(STATE["classes"])
    torch.manual_seed(c["seed"] * 100 + fold)
    val, test = parts[1 + fold], parts[0]
    train = torch.cat([parts[1 + k] for k in range(5) if k != fold])
    model = network(c, STATE["classes"]).to(device, memory_format=torch.channels_last)
    averaged = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(c["ema"]), use_buffers=True
    )
    groups = decay_matrices_only(model)
    if c["opt"] == "adamw":
        optimizer = torch.optim.AdamW(groups, lr=c["lr"], weight_decay=c["weight_decay"])
    else:
        optimizer = torch.optim.SGD(
            groups, lr=c["lr"], momentum=0.9, nesterov=True, weight_decay=c["weight_decay"]
        )
    steps = -(-len(train) // c["batch_size"])
    schedule = warmup_cosine(optimizer, steps * c["epochs"], c["warmup"])
    augment = [SpecAugment()] + ([Mixup(alpha=c["mixup"])] if c["mixup"] else [])
    autocast = dict(device_type=torch.device(device).type, dtype=torch.bfloat16)

    def channels_last(images):
        return images.float().contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def logits(net, index):
        net.eval()
        out = []
        for i in range(0, len(index), 512):
            with torch.autocast(**autocast):
                out.append(net(channels_last(x[index[i : i + 512]])).float())
        return torch.cat(out)

    history = []
    for epoch in range(c["epochs"]):
        model.train()
        order = train[torch.randperm(len(train), device=device)]
        for step in range(steps):
            batch = order[step * c["batch_size"] : (step + 1) * c["batch_size"]]
            images, targets = x[batch], y[batch]
            n, _, h, w = images.shape
            if c["crop"] < w:  # TimeCrop(train=True), batched: one random time offset per image
                offset = torch.randint(0, w - c["crop"] + 1, (n,), device=device)
                columns = offset[:, None] + torch.arange(c["crop"], device=device)
                images = images.gather(3, columns[:, None, None, :].expand(n, 3, h, c["crop"]))
            images = images.float()
            for op in augment:
                images, targets = op(images, targets, classes)
            with torch.autocast(**autocast):
                out = model(channels_last(images))
            loss = F.cross_entropy(out.float(), targets, label_smoothing=c["label_smoothing"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            averaged.update_parameters(model)
        if (epoch + 1) % 5 == 0 or epoch + 1 == c["epochs"]:
            history.append(
                (epoch + 1, round(float((logits(model, val).argmax(1) == y[val]).float().mean()), 4))
            )
    result = {"config": c, "fold": fold, "history": history, "seconds": round(time.perf_counter() - started)}
    for name, net in (("last", model), ("ema", averaged.module)):
        result[name] = {"val": logits(net, val).cpu(), "test": logits(net, test).cpu()}
    result["val_labels"], result["test_labels"] = y[val].cpu(), y[test].cpu()
    return result


def fold_scores(result: dict, weights: str) -> dict:
    """Accuracy on validation and test, and test scores after the temperature fitted on validation."""
    val, test = result[weights]["val"], result[weights]["test"]
    temperature = fit_temperature(val, result["val_labels"])
    calibrated = (test / temperature).softmax(-1)
    return {
        "val_acc": scores(val.softmax(-1), result["val_labels"])["acc"],
        "test": scores(calibrated, result["test_labels"]),
        "probabilities": calibrated,
    }


def name(c: dict) -> str:
    return json.dumps({k: v for k, v in c.items() if BASE[k] != v}) if c != BASE else "{} (base)"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="genre folders of spectrogram images")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--folds", default="0,1", help="comma-separated folds each config trains on")
    parser.add_argument("--configs", default=None, help="JSON list of overrides of BASE (default: SEARCH)")
    parser.add_argument("--processes", type=int, default=6, help="worker processes sharing the device")
    args = parser.parse_args(argv)
    configs = [{**BASE, **o} for o in (json.loads(args.configs) if args.configs else SEARCH)]
    unknown = {k for c in configs for k in c} - set(BASE)
    if unknown:
        parser.error(f"unknown config keys {sorted(unknown)}; known: {sorted(BASE)}")
    folds = [int(f) for f in args.folds.split(",")]
    started = time.perf_counter()
    classes, x, y, parts = load(args.folder)
    data = {"classes": classes, "x": x, "y": y, "parts": parts}
    results: dict[str, dict[int, dict]] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.processes, context, start_worker, (data, args.device)) as pool:
        jobs = [pool.submit(run, c, f) for c in configs for f in folds]
        for job in as_completed(jobs):
            r = job.result()
            results.setdefault(name(r["config"]), {})[r["fold"]] = r
            print(f"{name(r['config'])} fold {r['fold']}: {r['seconds']} s, val acc by epoch {r['history']}")
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{len(configs)} configs x folds {folds} in {minutes:.1f} min on {args.device}")
    print("\n| config | weights | val acc | test acc | test ECE (calibrated) | ensemble test acc |")
    print("|---|---|---:|---:|---:|---:|")
    for config, by_fold in results.items():
        for weights in ("last", "ema"):
            each = [fold_scores(by_fold[f], weights) for f in sorted(by_fold)]
            ensemble = ""
            if len(each) == 5:
                mean = torch.stack([s["probabilities"] for s in each]).mean(0)
                ensemble = f"{scores(mean, by_fold[0]['test_labels'])['acc']:.3f}"
            print(
                f"| `{config}` | {weights} | {np.mean([s['val_acc'] for s in each]):.3f} "
                f"| {np.mean([s['test']['acc'] for s in each]):.3f} "
                f"| {np.mean([s['test']['ece'] for s in each]):.3f} | {ensemble} |"
            )


if __name__ == "__main__":
    main()
