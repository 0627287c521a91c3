"""Finishing a stopped run: ``python train.py resume=<run folder>`` turned into the run's own config.

The run continues in its own folder with the config it was started with (its ``.hydra/config.yaml``,
left as it is, checked against run_config.json by saved_config.py): finished folds are kept, the
interrupted fold continues from its ``last.ckpt`` (weights, optimizer, scheduler, epoch and, through the
callbacks of callbacks/resume_state.py, the random generators and the learning-rate step taken after the
checkpoint), and the data must still give the run's split. A run stopped by Ctrl-C or SIGTERM says
so and prints this command (interrupt.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from genre_lightning.errors import UserError
from genre_lightning.run_folder.layout import RunFolder
from genre_lightning.training.saved_config import check_same_config, check_targets, flatten, project_targets

log = logging.getLogger(__name__)

# what a resume may set: it changes nothing the run has done (data.resident's choice is in data_path.json, and
# the share only says whether that set still fits)
RESUME_SETTABLE = ("data.resident_share",)


def hydra_overrides(argv: list[str]) -> list[str]:
    """What ``resume=<run folder>`` on the command line adds for Hydra: run in that folder, and write no
    .hydra/ of this command there (the run's own is its config). Nothing without resume=."""
    given = [arg.partition("=")[2] for arg in argv if arg.startswith("resume=")]
    if not given or given[-1] in ("", "null"):
        return []
    run = RunFolder(given[-1])
    if "-m" in argv or "--multirun" in argv:
        raise UserError("resume= finishes one run; drop -m (each job folder of a sweep is a run folder)")
    if not run.saved_config.is_file():
        raise UserError(
            f"resume={run.path}: not a run folder (no {run.saved_config}); pass a folder of logs/train/runs/"
        )
    return [f'hydra.run.dir="{run.path}"', "hydra.output_subdir=null"]


def run_config(cfg: DictConfig) -> DictConfig:
    """The config the run ``cfg.resume`` was started with, ``resume`` set; refuses settings on this
    command line that would change it, naming them."""
    run = RunFolder(cfg.resume)
    overrides = [item for item in HydraConfig.get().overrides.task if not item.startswith("resume=")]
    settable = [item for item in overrides if _key(item) in RESUME_SETTABLE]
    overrides = [item for item in overrides if item not in settable]
    changed = changed_keys(list(OmegaConf.load(run.saved_overrides)), overrides) if overrides else []
    if changed:
        raise UserError(
            f"resume={run.path}: {', '.join(changed)} would differ from the run's config "
            f"({run.saved_config}); resume without them, or start a new run"
        )
    saved = OmegaConf.load(run.saved_config)
    command_line = {item.partition("=")[2] for item in overrides if _key(item).endswith("_target_")}
    check_targets(saved, project_targets(_config_dir()) | command_line, run.saved_config)
    with open_dict(saved):
        saved.resume = str(run.path)
    try:
        check_same_config(run, saved)
    except OmegaConfBaseException as err:
        raise UserError(f"{run.saved_config}: {' '.join(str(err).split())}; restore the file") from None
    for item in settable:  # as this command line composed it
        OmegaConf.update(saved, _key(item), OmegaConf.select(cfg, _key(item)))
    log.info("resuming %s with its saved config", run.path)
    return saved


def _config_dir() -> Path:
    """The folder of train.py's own configs (configs/)."""
    main = [s for s in HydraConfig.get().runtime.config_sources if s.provider == "main"]
    return Path(main[0].path.removeprefix("file://"))


def changed_keys(saved_overrides: list[str], overrides: list[str]) -> list[str]:
    """The config keys that ``overrides`` on top of ``saved_overrides`` change (``trainer.max_epochs``...)."""
    given = {_key(item) for item in overrides}
    try:
        before = compose(HydraConfig.get().job.config_name, overrides=saved_overrides)
        after = compose(
            HydraConfig.get().job.config_name,
            overrides=[item for item in saved_overrides if _key(item) not in given] + overrides,
        )
    except (HydraException, OmegaConfBaseException) as err:
        raise UserError(f"resume: {overrides} do not apply to the run's config ({err})") from None
    before, after = flatten(OmegaConf.to_container(before)), flatten(OmegaConf.to_container(after))
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")
