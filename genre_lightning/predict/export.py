"""The ensemble as one ONNX graph, with what a caller needs to make its input stored in the file.

Input ``images``: uint8 RGB, N x 3 x H x W (H, W: the eval preset's crop), values 0-255; scaling and
ImageNet normalisation are inside the graph. With test-time time crops (data.transforms.eval_crops > 1) the
input is N x crops x 3 x H x W and each image's crops' logits are averaged. Output ``probabilities``: N x
classes, the mean of the fold models' calibrated probabilities, softmax(logits / temperature). metadata_props:
``class_names``, ``preprocessing`` (the eval preset's family and values, decode size, how images
are cut to their plot area (trim, trim_usual: the caller cuts) and spectrogram rendering, as JSON),
``input``, ``checkpoints``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from PIL import Image

from genre_lightning.errors import UserError
from genre_lightning.files import atomic_path
from genre_lightning.predict.ensemble import Ensemble
from genre_lightning.predict.report import exists_error


def export_onnx(
    ensemble: Ensemble, path: str | os.PathLike, opset: int = 17, overwrite: bool = False
) -> Path:
    """Write the ensemble to the .onnx file ``path``: created only where no file is, unless ``overwrite``
    (a process that wrote it meanwhile keeps it, and this one gets the one-line error)."""
    path = Path(path)
    check_export(path, overwrite)
    try:
        _write(ensemble, path, opset, overwrite)
    except FileExistsError:
        raise exists_error("export", path) from None
    return path


def check_export(path: Path, overwrite: bool) -> None:
    """An export that cannot be written, refused before any work."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise UserError("export needs the onnx package; pip install -e '.[export]'") from None
    if path.suffix.lower() != ".onnx":
        raise UserError(f"export={path}: name the file .onnx")
    if path.exists() and not overwrite:
        raise exists_error("export", path)


def _write(ensemble: Ensemble, path: Path, opset: int, overwrite: bool) -> None:
    import onnx

    # the crop the eval preset makes, from an image of any size
    blank = Image.new("RGB", (ensemble.min_size * 2, ensemble.min_size * 2))
    example = ensemble.preset(blank).unsqueeze(0)
    net = ensemble.net.to("cpu").float().eval()
    with atomic_path(path, exclusive=not overwrite) as tmp, warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the dynamo one, which needs onnxscript;
        # this one needs nothing beyond torch and gives the same graph for a ResNet.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            net,
            (example,),
            str(tmp),
            dynamo=False,
            input_names=["images"],
            output_names=["probabilities"],
            # any height and width: eval presets that keep an image's whole width give each source
            # size its own; the network pools over whatever it gets
            dynamic_axes={
                "images": {0: "batch", example.ndim - 2: "height", example.ndim - 1: "width"},
                "probabilities": {0: "batch"},
            },
            opset_version=opset,
        )
        model = onnx.load(str(tmp))
        metadata = {
            "class_names": json.dumps(ensemble.class_names),
            "preprocessing": json.dumps(ensemble.preprocessing),
            "input": (
                f"uint8 RGB images N x {' x '.join(map(str, example.shape[1:]))}, 0-255, normalisation inside"
                # N x crops x 3 x H x W: the eval preset's time crops, whose logits the graph averages
                + (" (time crops of each image, averaged)" if example.ndim == 5 else "")
            ),
            "checkpoints": json.dumps([str(c) for c in ensemble.checkpoints]),
        }
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(tmp))
    net.to(ensemble.device)
