"""The debug= and logger= config groups: each option trains a tiny run and leaves what it promises
(debug=fdr: tests/training/test_train.py, with what predict.py says of its run)."""

import csv
import json
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from genre_lightning.run_folder.layout import SUMMARY_FILE
from genre_lightning.training.kfold import train

TAGS = ["demo", "tiny"]


def check_debug(run: Path, debug: str, summary: dict) -> None:
    [fold] = summary["folds"]
    assert fold["fold"] == 0, "every debug option but fdr trains fold 0 only"
    steps = torch.load(run / "fold_0" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    # data.batch_size=4: the fold's 63 training images make 15 batches an epoch
    if debug == "limit":
        assert steps == 5 * fold["epochs"]
    elif debug == "overfit":
        assert steps == 3 * fold["epochs"]
    elif debug == "profiler":
        report = (run / "fold_0" / "fit-profile.txt").read_text()
        assert "run_training_epoch" in report and "Total" in report
        assert (run / "fold_0" / "validate-profile.txt").is_file()


def check_logger(run: Path, logger: str) -> None:
    tensorboard = list((run / "fold_0").glob("events.out.tfevents.*"))
    assert bool(tensorboard) == (logger in ("tensorboard", "many"))
    assert (run / "csv").exists() == (logger in ("csv", "many"))
    assert (run / "mlflow.db").exists() == (logger in ("mlflow", "many"))
    if tensorboard:
        events = EventAccumulator(str(run / "fold_0")).Reload()
        assert "val/acc" in events.Tags()["scalars"]
        # the HPARAMS tab (TensorBoard's hparams.yaml holds the model's, written before these)
        plugin = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hparams = HParamsPluginData.FromString(plugin).session_start_info.hparams
        assert hparams["tags"].string_value == str(TAGS)
    if logger in ("csv", "many"):
        with open(run / "csv" / "fold_0" / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert any(row["val/acc"] for row in rows) and any(row["final/val/acc"] for row in rows)
        assert yaml.safe_load((run / "csv" / "fold_0" / "hparams.yaml").read_text())["tags"] == TAGS
    if logger in ("mlflow", "many"):
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{run / 'mlflow.db'}")
        [found] = client.search_runs([client.get_experiment_by_name("debug").experiment_id])
        assert found.info.run_name == "fold_0" and found.info.status == "FINISHED"
        assert set(TAGS) <= set(found.data.tags)
        assert {"val/acc", "final/val/acc", "train/loss"} <= set(found.data.metrics)
        assert found.data.params["fold"] == "0"


@pytest.mark.parametrize(
    "debug, logger",
    [
        ("limit", "tensorboard"),
        ("limit", "csv"),
        ("limit", "mlflow"),
        ("overfit", "many"),
        ("profiler", "tensorboard"),
    ],
)
def test_every_debug_and_logger_option_trains_and_writes_its_files(tiny_cfg, debug, logger):
    cfg = tiny_cfg(
        f"debug={debug}", f"logger={logger}", f"tags=[{','.join(TAGS)}]", "data.batch_size=4", "test=false"
    )
    assert cfg.task_name == "debug"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = train(cfg)
    # Lightning's note that overfit_batches turns shuffling off is the point of debug=overfit, not news
    assert not [w for w in caught if "overfit" in str(w.message)]
    run = Path(cfg.paths.output_dir)
    assert json.loads((run / SUMMARY_FILE).read_text())["complete"]
    # the checkpoints stay in the fold's folder whichever logger comes first (or none)
    assert summary["folds"][0]["checkpoint"] == "fold_0/checkpoints/best.ckpt"
    check_debug(run, debug, summary)
    check_logger(run, logger)
