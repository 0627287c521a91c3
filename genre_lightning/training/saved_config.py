"""The config a run started with, kept in its folder: a resume trains with the same one, or refuses.

``.hydra/config.yaml`` is a plain file that anyone can edit, and a resume builds objects from it. So a fresh
run also writes ``run_config.json``: its config resolved, with a digest of it. A resume then refuses, in
one line, a ``run_config.json`` whose digest no longer matches, a ``.hydra/config.yaml`` whose values
differ from it in a key that can change a result, and a ``_target_`` that the project's own configs
(configs/**/*.yaml) or the resume command line could not have produced.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from genre_lightning.errors import UserError
from genre_lightning.files import write_json
from genre_lightning.run_folder.layout import RunFolder

# Keys (and everything under them) that say where files go and what is logged or shown, never what is
# trained: a resume may differ in them. Everything else must match. data.num_workers is not here: the
# loader workers' seeds, and so the random crops, depend on how many there are.
UNCOMPARED = (
    "paths",
    "resume",
    "task_name",
    "tags",
    "hparams",
    "optimized_metric",
    "logger",
    "data.cache_dir",
    # a resume keeps data.resident's recorded choice (data_path.json): the share only says if it still fits
    "data.resident_share",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",
    "callbacks.learning_rate_monitor",
    "callbacks.input_samples",
    "callbacks.confusion_matrix",
    "callbacks.epoch_log",
    "callbacks.progress_bar",
)


def keep_config(run: RunFolder, cfg: DictConfig) -> None:
    """Write run_config.json, once, as a fresh run starts."""
    config = _resolved(cfg)
    write_json(run.run_config, {"digest": _digest(config), "config": config})


def check_same_config(run: RunFolder, cfg: DictConfig) -> None:
    """Refuse to resume with ``cfg`` (the run's .hydra/config.yaml) unless it trains as the run started."""
    path = run.run_config
    try:
        saved = json.loads(path.read_text())
        started, digest = saved["config"], saved["digest"]
    except FileNotFoundError:
        raise UserError(
            f"{path}: not found, so the run's config cannot be verified; start a new run"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{path}: not a run config file; start a new run") from None
    if digest != _digest(started):
        raise UserError(f"{path}: edited since the run started (its digest differs); start a new run")
    before, now = _in_run_folder(started), _in_run_folder(_resolved(cfg))
    keys = (key for key in before.keys() | now.keys() if _compared(key))
    changed = sorted(key for key in keys if before.get(key) != now.get(key))
    if changed:
        raise UserError(
            f"resume={run.path}: {', '.join(changed)} in .hydra/config.yaml differ from the config the run "
            f"started with ({path}); put them back, or start a new run"
        )


def check_targets(cfg: DictConfig, allowed: set[str], source: Path) -> None:
    """Refuse a ``_target_`` that is not in ``allowed``: building it would run any code it names."""
    for key, value in flatten(OmegaConf.to_container(cfg)).items():
        if key.rpartition(".")[2] == "_target_" and value not in allowed:
            raise UserError(
                f"{source}: {key}={value} is not a target of the project's configs; refusing to build it "
                "(restore the file, or start a new run)"
            )


def project_targets(config_dir: Path) -> set[str]:
    """Every ``_target_`` that the config files under ``config_dir`` name."""
    found = set()
    for path in config_dir.rglob("*.yaml"):
        for key, value in flatten(OmegaConf.to_container(OmegaConf.load(path))).items():
            if key.rpartition(".")[2] == "_target_":
                found.add(value)
    return found


def _resolved(cfg: DictConfig) -> dict:
    # the run's own keys: a config composed with Hydra's (return_hydra_config) also holds "hydra"
    node = {key: cfg[key] for key in cfg if key != "hydra"}
    return {
        key: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
        for key, v in node.items()
    }


def _in_run_folder(config: dict) -> dict:
    """flatten(config), each path inside the run's own folder (paths.output_dir) written relative to it: a
    path that moves with the folder (trainer.default_root_dir) says nothing about how the run trains."""
    flat = flatten(config)
    home = flat.get("paths.output_dir")
    if not isinstance(home, str):
        return flat
    inside = home.rstrip("/") + "/"
    return {
        key: f"<run folder>/{value[len(inside) :]}"
        if isinstance(value, str) and (value + "/").startswith(inside)
        else value
        for key, value in flat.items()
    }


def _compared(key: str) -> bool:
    return not any(key == skip or key.startswith(f"{skip}.") for skip in UNCOMPARED)


def _digest(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def flatten(tree, prefix: str = "") -> dict:
    """{"a": {"b": 1}, "c": [{"d": 2}]} -> {"a.b": 1, "c.0.d": 2}; an empty dict or list is a value."""
    if isinstance(tree, list):
        tree = {str(index): child for index, child in enumerate(tree)} or tree
    if not isinstance(tree, dict) or not tree:
        return {prefix: tree}
    return {
        key: value
        for name, child in tree.items()
        for key, value in flatten(child, f"{prefix}.{name}" if prefix else name).items()
    }
