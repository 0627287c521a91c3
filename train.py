"""Train the genre classifier with k-fold cross-validation.

python train.py experiment=demo               # synthetic demo set, CPU, a few minutes
python train.py data.root=/data/spectrograms trainer=gpu
python train.py data.fold=2                   # one fold only
python train.py -m model.optimizer.lr=0.1,0.01
python train.py resume=logs/train/runs/<run>  # finish a stopped run
"""

import sys

import hydra
from omegaconf import DictConfig

from genre_lightning.errors import exit_on_user_error
from genre_lightning.training.kfold import train
from genre_lightning.training.resume import hydra_overrides, run_config
from genre_lightning.training.summary import optimized_value


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    if cfg.resume is not None:
        cfg = run_config(cfg)
    # a new run's values were checked by the ClaimRunFolder callback (configs/hydra/default.yaml), before
    # Hydra wrote its folder; a resumed run's saved config is checked by train()
    summary = train(cfg, checked=cfg.resume is None)
    # returned to Hydra's sweepers (grid or Optuna) as the value to optimise
    return optimized_value(cfg, summary)


if __name__ == "__main__":
    # resume=<run folder>: Hydra runs in that folder and leaves the run's saved config as it is
    sys.argv += exit_on_user_error(hydra_overrides)(sys.argv[1:])
    main()
