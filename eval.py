"""Score a trained run (its fold ensemble and each fold) or one checkpoint on a labelled folder of
spectrogram images, <folder>/<Genre>/*.jpg|png: accuracy, macro F1, NLL and calibration error.

    python eval.py images=data/fma_style                         # no ckpt: the bundled FMA-small model
    python eval.py ckpt=latest images=data/other_set
    python eval.py ckpt=logs/train/runs/<run> images=/data/gtzan_spectrograms
    python eval.py ckpt=logs/train/runs/<run>/fold_0/checkpoints/best.ckpt images=data/demo
    python eval.py ckpt=latest images=data/other_set explain=true   # and what carried each genre's score

Writes eval.json, confusion_matrix.png and per_genre.csv into a new folder, logs/eval/runs/<time>/.
Genres that the model and the folder do not share are left out and named. Exit status 2 for a usage error.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from genre_lightning.errors import exit_on_user_error
from genre_lightning.explain.evaluation import EvaluationExplainer
from genre_lightning.predict.evaluate import evaluate, format_scores, labelled_images, notes
from genre_lightning.predict.inference import load_ensemble


@hydra.main(version_base="1.3", config_path="configs", config_name="eval")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    ensemble = load_ensemble(cfg)
    explain = EvaluationExplainer(cfg, ensemble) if cfg.explain else None
    data = labelled_images(cfg.images, ensemble.class_names)
    out_dir = Path(cfg.paths.output_dir)
    result = evaluate(ensemble, data, cfg.batch_size, out_dir)
    for line in notes(result):
        print(line)
    print(format_scores(result))
    for line in explain(data, out_dir) if explain else []:
        print(line)
    print("wrote", out_dir)


if __name__ == "__main__":
    main()
