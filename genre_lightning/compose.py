"""train.py's config composed outside a Hydra run, as `python train.py OVERRIDES` composes it: for the
benchmarks and the tests, which build and train in their own process."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

# the project's configs, beside the package in the source tree (where train.py finds them)
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def train_config(overrides: Sequence[str] = (), with_hydra: bool = False) -> DictConfig:
    """configs/train.yaml with ``overrides``; ``with_hydra``: Hydra's own config kept in it (cfg.hydra)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIGS)):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=with_hydra)


def compose_train(
    overrides: Sequence[str], output_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None
) -> DictConfig:
    """The train config of a run writing into ``output_dir``, as train.py's run sees it: Hydra's config set
    as the running one (for the code that asks HydraConfig), paths.log_dir the folder above, paths.data_dir
    ``data_dir`` (default: data/ there). Hydra's runtime names no output folder outside a run, so
    paths.* are set here."""
    cfg = train_config(overrides, with_hydra=True)
    HydraConfig().set_config(cfg)
    output_dir = Path(output_dir)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir.parent)
        cfg.paths.data_dir = str(data_dir if data_dir is not None else output_dir.parent / "data")
    return cfg
