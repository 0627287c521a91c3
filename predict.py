"""Predict the genre of a spectrogram image from a trained checkpoint or a whole k-fold run.

    python predict.py ckpt=latest image=song.jpg        # newest finished run, folds ensembled
    python predict.py ckpt=logs/train/runs/<run> image=song.jpg
    python predict.py ckpt=logs/train/runs/<run>/fold_0/checkpoints/best.ckpt image=song.jpg
"""

import hydra
from omegaconf import DictConfig

from genre_lightning.errors import exit_on_user_error
from genre_lightning.prediction import Ensemble, find_checkpoints, pick_device


@hydra.main(version_base="1.3", config_path="configs", config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    ensemble = Ensemble(find_checkpoints(cfg.ckpt, cfg.runs_dir), pick_device(cfg.device))
    probs = ensemble.probabilities(ensemble.preprocess(cfg.image).unsqueeze(0))[0]
    ranked = sorted(zip(ensemble.class_names, probs.tolist()), key=lambda item: -item[1])
    print(f"{cfg.image}: {ranked[0][0]}")
    for name, p in ranked:
        print(f"  {name:<12} {p:6.1%}")


if __name__ == "__main__":
    main()
