"""model.weights=fma_small: a training starts from the bundled model's network with a new head, and a config
whose network differs from it is refused in one line before any run folder is made."""

from __future__ import annotations

import pytest

from genre_lightning.errors import UserError, build
from genre_lightning.predict.checkpoint import load_classifier
from genre_lightning.pretrained import bundled_checkpoints
from genre_lightning.training.checks import check_config


def test_the_body_starts_as_the_bundled_models_and_the_head_is_new(tiny_cfg):
    bundled = load_classifier(bundled_checkpoints()[0]).net.state_dict()
    # the model a fold of `python train.py model.weights=fma_small model.width=32` starts from (step 0)
    cfg = tiny_cfg("model.weights=fma_small", "model.width=32")
    model = build("model", cfg.model, class_names=["a", "b", "c"], preprocessing=None)
    body = {k: v for k, v in model.net.state_dict().items() if not k.startswith("fc.")}
    assert body.keys() == {k for k in bundled if not k.startswith("fc.")}
    for key, tensor in body.items():
        assert tensor.equal(bundled[key]), key
    assert model.net.fc[1].out_features == 3


@pytest.mark.parametrize(
    ("overrides", "fix"),
    [
        (["model.width=64"], "model.width=32"),
        (["model.width=32", "model.arch=resnet34"], "model.arch=resnet18"),
    ],
)
def test_a_network_unlike_the_bundled_one_is_refused_in_one_line(tiny_cfg, overrides, fix):
    with pytest.raises(UserError) as err:
        check_config(tiny_cfg("model.weights=fma_small", *overrides))
    assert fix in str(err.value) and "\n" not in str(err.value)
