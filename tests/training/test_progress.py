import json
import logging
import re
from pathlib import Path

from genre_lightning.training.kfold import train


def test_every_epoch_and_every_fold_logs_a_line_without_the_progress_bar(tiny_cfg, caplog):
    cfg = tiny_cfg("data.fold=1", "data.max_per_class=8", "trainer.max_epochs=2")
    assert cfg.trainer.enable_progress_bar is False
    with caplog.at_level(logging.INFO, logger="genre_lightning"):
        train(cfg)
    number = r"\d+(\.\d+)?(e-?\d+)?"
    epochs = [
        r.getMessage() for r in caplog.records if r.name == "genre_lightning.training.callbacks.progress"
    ]
    assert len(epochs) == 2, epochs
    for k, line in enumerate(epochs, start=1):
        assert re.fullmatch(
            rf"epoch {k}/2: train loss {number}, val loss {number}, val acc {number}, lr 0.01, {number} s",
            line,
        ), line
    result = json.loads(Path(cfg.paths.output_dir, "fold_1", "result.json").read_text())
    folds = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fold 1 finished")]
    scores = f"val/acc {result['val/acc']:.3f}, test/acc {result['test/acc']:.3f}"
    assert folds == [f"fold 1 finished in {folds[0].split()[4]} s: {scores}"]
