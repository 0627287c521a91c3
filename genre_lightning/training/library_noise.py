"""What the libraries print that tells our users nothing, and cannot be fixed here, silenced narrowly: by
message and module, each entry naming the upstream issue. Drop an entry once the versions pyproject.toml
admits no longer need it. (Lightning's start-up INFO lines are turned down in configs/hydra/default.yaml.)"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def known_library_warnings(trainer_cfg) -> Iterator[None]:
    """Inside: the Trainers built for ``trainer_cfg`` (the run's `trainer` config) and their fits."""
    with warnings.catch_warnings():
        # lightning <= 2.6.6 under torch >= 2.9: its own _pytree.py still tests isinstance(spec, LeafSpec),
        # which torch deprecates; six times a run (Lightning-AI/pytorch-lightning#21326)
        warnings.filterwarnings(
            "ignore",
            message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
            category=FutureWarning,
            module=r"lightning\.pytorch\.utilities\._pytree",
        )
        # debug=overfit (trainer.overfit_batches): Lightning says it turns the training loader's shuffling
        # off, which is what overfitting a few batches means (configs/debug/overfit.yaml says so)
        warnings.filterwarnings(
            "ignore",
            message="You requested to overfit but enabled train dataloader shuffling",
            category=UserWarning,
            module=r"lightning\.pytorch\.trainer\.connectors\.data_connector",
        )
        if trainer_cfg.get("devices") == 1 and trainer_cfg.get("num_nodes", 1) == 1:
            # every Trainer on a machine where SLURM's srun is installed (a cluster's login node, or ours
            # in CI) hints at launching with srun: that concerns jobs of several processes (DDP) only, and
            # the SLURM launcher's jobs run under srun anyway (docs/scale.md)
            warnings.filterwarnings(
                "ignore",
                message=r"The `srun` command is available on your system but is not used",
            )
        yield
