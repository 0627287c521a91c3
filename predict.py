"""Predict the genres of spectrogram images or songs with a trained checkpoint or a whole k-fold run.

    python predict.py audio=song.mp3                             # no ckpt: the bundled FMA-small model
    python predict.py ckpt=latest image=song.jpg                 # newest finished run, folds ensembled
    python predict.py ckpt=logs/train/runs/<run> audio=music/ top_k=3 output=preds.csv
    python predict.py ckpt=latest audio=song.mp3 per_window=true aggregate=vote output=song.json
    python predict.py ckpt=logs/train/runs/<run>/fold_0/checkpoints/best.ckpt image=spectrograms/
    python predict.py ckpt=latest export=model.onnx
    python predict.py ckpt=latest image=spectrograms/ output=preds.csv explain=true   # and why: one PNG each

Exit status: 0 when every file was predicted (also when some got a warning), 1 when some could not be read,
2 for a usage error.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from genre_lightning.constants import AUDIO_EXTENSIONS, IMAGE_EXTENSIONS
from genre_lightning.errors import UserError, exit_on_user_error
from genre_lightning.explain.predictions import PredictionExplainer
from genre_lightning.predict.export import check_export, export_onnx
from genre_lightning.predict.inference import (
    file_loader,
    input_files,
    load_ensemble,
    predict_files,
    song_rendering,
)
from genre_lightning.predict.report import (
    check_options,
    format_predictions,
    format_warnings,
    write_predictions,
)


@hydra.main(version_base="1.3", config_path="configs", config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    inputs = [name for name in ("image", "audio") if cfg[name] is not None]
    if len(inputs) > 1 or not (inputs or cfg.export):
        raise UserError(
            "pass one of image=<file or folder> or audio=<file or folder> (or export=<file.onnx>)"
        )
    check_options(cfg.output, cfg.top_k, cfg.overwrite)
    if cfg.export:
        check_export(Path(cfg.export), cfg.overwrite)
    ensemble = load_ensemble(cfg)
    if cfg.export:
        print(f"exported {export_onnx(ensemble, cfg.export, overwrite=cfg.overwrite)}")
    if cfg.image is not None:
        files, rendering = input_files(cfg.image, "image", IMAGE_EXTENSIONS), None
    elif cfg.audio is not None:
        rendering = song_rendering(ensemble, OmegaConf.to_container(cfg.rendering))
        files = input_files(cfg.audio, "audio", AUDIO_EXTENSIONS)
    else:
        return
    explain = PredictionExplainer(cfg, ensemble, rendering) if cfg.explain else None
    read = file_loader(ensemble, rendering)
    predictions = predict_files(ensemble, files, read, cfg.batch_size, cfg.aggregate)
    if explain:
        print(explain(predictions, read))
    print(format_predictions(predictions, ensemble.class_names, cfg.top_k, cfg.per_window))
    for line in format_warnings(predictions):
        print(line, file=sys.stderr)
    if cfg.output:
        written = write_predictions(
            cfg.output,
            predictions,
            ensemble.class_names,
            cfg.top_k,
            ensemble.checkpoints,
            cfg.per_window,
            cfg.aggregate,
            cfg.overwrite,
        )
        print("wrote", written)
    if any(p.error for p in predictions):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
