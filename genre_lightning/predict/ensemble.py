"""Trained models from checkpoints alone (no dataset folder, no training config), ensembled as one."""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from genre_lightning.audio.rendering import Rendering
from genre_lightning.data import presets
from genre_lightning.data.images import MAX_PIXELS, crop_box, decode_jpegs, load_image, open_image
from genre_lightning.data.trim import file_box
from genre_lightning.errors import InputWarning, UserError, config_part
from genre_lightning.performance import device_type, inference_bf16
from genre_lightning.predict.checkpoint import load_classifier
from genre_lightning.run_folder.layout import SUMMARY_FILE, RunFolder
from genre_lightning.tables import shown

# Prediction doubts an image whose short side must be enlarged more than this to the models' input size.
MAX_ENLARGEMENT = 2
# how prediction decodes JPEGs (Ensemble's decode): auto | batched (torchvision, on the device) | pil
DECODERS = ("auto", "batched", "pil")


def pick_device(name: str = "auto") -> torch.device:
    """`auto`: CUDA, else MPS, else the CPU; `gpu`: CUDA, else MPS; any other name as torch spells it
    (cuda:1...). A device this machine does not have is a UserError."""
    kind, lowered = device_type(name), str(name).lower()
    if kind is None and lowered == "gpu":
        raise UserError(f"device={name}: this machine has no CUDA or MPS GPU; use device=auto or cpu")
    try:
        device = torch.device(kind if lowered in ("auto", "gpu") else lowered) if kind else None
    except RuntimeError:  # cuda:x
        device = None
    if device is None:
        raise UserError(f"device={name}: unknown; use auto, cpu, gpu, cuda, cuda:<n> or mps")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise UserError(
            f"device={name}: this machine has {torch.cuda.device_count()} CUDA GPU(s); use device=auto or cpu"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device={name}: MPS is not available here; use device=auto or cpu")
    return device


def find_checkpoints(ckpt: str | os.PathLike, runs_dir: str | os.PathLike) -> list[Path]:
    """A checkpoint file, every fold's best checkpoint of a finished run folder, or the `latest` finished
    run's."""
    if str(ckpt) == "latest":
        finished = [
            run
            for run in RunFolder.inside(runs_dir)
            if run.summary.is_file() and read_summary(run.summary)[1]
        ]
        if not finished:
            raise UserError(
                f"{runs_dir}: no finished training run; train first or pass ckpt=<file or run folder>"
            )
        ckpt = finished[-1].path
    path, run = Path(ckpt), RunFolder(ckpt)
    if path.is_file():
        return [path]
    if run.summary.is_file():
        summary, complete = read_summary(run.summary)
        if any(fold["checkpoint"] is None for fold in summary["folds"]):
            raise UserError(
                f"{path}: its folds kept no checkpoint (a trainer.fast_dev_run run saves none); "
                "train without fast_dev_run to predict"
            )
        if not complete:
            done = [fold.get("fold") for fold in summary["folds"]]
            raise UserError(
                f"{path}: the run has not finished (only fold(s) {done} have); finish it with "
                f"python train.py resume={path}, or pass one fold's fold_<k>/checkpoints/best.ckpt"
            )
        return inside(path, [run.summary] + [path / fold["checkpoint"] for fold in summary["folds"]])[1:]
    if run.split.is_file():  # a run folder whose first fold has not finished
        raise UserError(
            f"{path}: the run has no finished fold yet; finish it with python train.py resume={path}"
        )
    if path.is_dir():
        raise UserError(f"{path}: no {SUMMARY_FILE} here; pass a finished run folder or a .ckpt file")
    raise UserError(
        f"{path}: checkpoint not found; pass ckpt=<run folder>, <fold>/checkpoints/best.ckpt or latest"
    )


def inside(folder: Path, paths: list[Path]) -> list[Path]:
    """``paths``, each checked to lead into ``folder`` once links are followed: a summary, fold folder or
    checkpoint that is a link to another run's would put that run's model into this run's ensemble."""
    home = folder.resolve()
    for path in paths:
        target = path.resolve()
        if not target.is_relative_to(home):
            raise UserError(
                f"{path}: leads outside the run folder {folder} (to {target}); a run's summary and fold "
                "checkpoints must be its own: restore them, or pass that checkpoint itself"
            )
    return paths


def read_summary(path: Path) -> tuple[dict, bool]:
    """A run's cv_summary.json and whether every fold has finished (a trainer.fast_dev_run run, whose folds
    kept no checkpoint, has not). Read as data: each fold's checkpoint a relative path inside the run
    folder, or null."""
    try:
        summary = json.loads(path.read_text())
        complete = summary.get("complete") if isinstance(summary, dict) else None
        if not isinstance(complete, bool) or not isinstance(summary.get("folds"), list):
            raise ValueError("no list of folds and whether they are complete")
        for fold in summary["folds"]:
            if not (isinstance(fold, dict) and isinstance(fold.get("checkpoint", False), (str, type(None)))):
                raise ValueError(f"a fold without a checkpoint path: {str(fold)[:80]}")
            if fold["checkpoint"] is None:  # trainer.fast_dev_run: nothing to predict with
                complete = False
                continue
            checkpoint = Path(fold["checkpoint"])
            if checkpoint.is_absolute() or ".." in checkpoint.parts:
                raise ValueError(f"checkpoint {fold['checkpoint']!r} is outside the run folder")
    except (OSError, ValueError) as err:
        raise UserError(
            f"{path}: not a run summary written by train.py ({err}); pass the run's fold checkpoints instead"
        ) from None
    return summary, complete


class MeanProbabilities(nn.Module):
    """The models as one module: the mean of their calibrated probabilities, softmax(logits / temperature)
    (what export writes, as one graph; Ensemble.probabilities computes the same mean)."""

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        self.models = nn.ModuleList(models)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([model.probabilities(images) for model in self.models]).mean(dim=0)


class Ensemble:
    """One or more fold models that share classes and preprocessing; probabilities are averaged."""

    def __init__(
        self,
        checkpoints: list[Path],
        device: torch.device | str = "cpu",
        precision: str = "auto",
        max_image_pixels: int = MAX_PIXELS,
        decode: str = "auto",
    ):
        if decode not in DECODERS:
            raise UserError(f"decode={decode!r}: unknown; use {', '.join(DECODERS)}")
        self.checkpoints = list(checkpoints)
        self.models = [load_classifier(path, device) for path in checkpoints]
        first = self.models[0].hparams
        for path, model in zip(checkpoints[1:], self.models[1:]):
            if (
                model.hparams.class_names != first.class_names
                or model.hparams.preprocessing != first.preprocessing
            ):
                raise UserError(
                    f"{path}: classes or preprocessing differ from {checkpoints[0]}; ensemble one run's folds"
                )
        self.class_names: list[str] = list(first.class_names)
        self.preprocessing: dict = first.preprocessing
        # the eval preset the checkpoint names by family, rebuilt from its values (checked when loaded)
        self.preset = presets.build(first.preprocessing["transform"], train=False)
        self.min_size: int = first.preprocessing["min_size"]
        # how training cut its images to their plot area (data.trim); checkpoints from before it cut nothing
        self.trim = first.preprocessing.get("trim", "off")
        self.trim_usual: list[list[int]] = first.preprocessing.get("trim_usual", [])
        self.max_image_pixels = max_image_pixels
        self.net = MeanProbabilities(self.models).eval()
        self.device = torch.device(device)
        # checked here, before any file is read; True where inference runs in bf16
        self.precision, self.bf16 = precision, inference_bf16(self.device, precision)
        # JPEGs decoded in batches on the device (nvJPEG on a GPU): `auto` does so on CUDA; on a CPU, PIL's
        # decoding at 1/2-1/8 scale (load_image) is faster than a full decode
        self.batched = decode == "batched" or (decode == "auto" and self.device.type == "cuda")

    def preprocess(self, path: str | os.PathLike, decoded: torch.Tensor | None = None) -> torch.Tensor:
        """Image file -> uint8 tensor exactly as the models were validated; an InputWarning for an image
        far smaller than the models' input. ``decoded``: the file's pixels from ``decode_jpegs``, transformed
        where they are (on the device) instead of decoding the file again. A figure is cut to its plot area
        first, as training cut its images (data.trim)."""
        if not Path(path).is_file():
            raise UserError(f"{shown(path)}: image not found; pass image=<spectrogram .jpg/.png>")
        box = file_box(path, self.trim, self.trim_usual, self.max_image_pixels)
        if decoded is None:
            image = load_image(path, self.min_size, self.max_image_pixels, box)
            # load_image keeps the short side >= min_size when the file has that many pixels
            width, height = image.size
        else:
            image = crop_box(decoded, box)
            height, width = image.shape[-2:]
        if min(width, height) * MAX_ENLARGEMENT < self.min_size:
            warnings.warn(
                f"image is {width}x{height} px, enlarged {self.min_size / min(width, height):.0f}x "
                f"to the {self.min_size} px the model was trained at",
                InputWarning,
                stacklevel=2,
            )
        return self.preset(image)

    def decode_jpegs(self, paths: list[Path]) -> dict[Path, torch.Tensor]:
        """The JPEGs among ``paths``, decoded in one call on the ensemble's device (nvJPEG on a GPU) at full
        size as uint8 RGB, when ``self.batched``. The eval preset then resizes them there, with antialiasing,
        where the PIL path decodes at a reduced DCT scale first: the two agree within a few grey levels
        (tests/predict). Files it cannot take (not an RGB or grey JPEG, over max_image_pixels, not
        decodable) are left out, or all files where one fails to decode: preprocess reads those one at a time
        and names what is wrong, in the file's own row."""
        if not self.batched:
            return {}
        files = [path for path in paths if self._batched_jpeg(path)]
        if not files:
            return {}
        try:
            images = decode_jpegs(files, None, self.device, self.max_image_pixels)
        except UserError:
            return {}
        return dict(zip(files, images))

    def _batched_jpeg(self, path: Path) -> bool:
        """Whether the batched decoder takes the file: a readable JPEG of RGB or grey pixels within
        max_image_pixels (any other goes through PIL)."""
        try:
            with open_image(path, self.max_image_pixels) as image:
                return image.format == "JPEG" and image.mode in ("RGB", "L")
        except UserError:
            return False

    def preprocess_audio(
        self, path: str | os.PathLike, rendering: Rendering
    ) -> tuple[list[torch.Tensor], list[tuple[float, float]]]:
        """Audio file -> one uint8 tensor per window, through the same JPEG images the dataset builder
        writes, and each window's start and end in the song (seconds); an InputWarning for audio shorter
        than a window or silent."""
        rendering = rendering.for_file(path)
        audio = rendering.load(path)
        for doubt in rendering.doubts(audio):
            warnings.warn(doubt, InputWarning, stacklevel=2)
        windows = rendering.render(audio)
        images = [
            self.preset(load_image(io.BytesIO(window.jpeg), self.min_size, self.max_image_pixels))
            for window in windows
        ]
        return images, [(window.start, window.end) for window in windows]

    def rendering(self, overrides: dict | None = None) -> tuple[Rendering, bool]:
        """How to turn songs into this model's images: as recorded at training time (else the published
        data's settings), with the non-null ``overrides`` on top. The flag says whether it was recorded."""
        recorded = self.preprocessing.get("spectrogram")
        settings = (Rendering() if recorded is None else Rendering.from_dict(recorded)).to_dict()
        overrides = dict(overrides or {})
        spec = {k: v for k, v in (overrides.pop("spec", None) or {}).items() if v is not None}
        settings.update({k: v for k, v in overrides.items() if v is not None})
        settings["spec"].update(spec)
        with config_part("rendering"):
            return Rendering.from_dict(settings), recorded is not None

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Mean class probabilities over the models, N x classes, for a batch of uint8 images."""
        return self.model_probabilities(images).mean(dim=0)

    @torch.inference_mode()
    def model_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Each model's calibrated class probabilities, models x N x classes, for a batch of uint8 images."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            images = images.to(self.device)
            return torch.stack([model.probabilities(images).float().cpu() for model in self.models])
