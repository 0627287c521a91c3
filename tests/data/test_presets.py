"""Transform presets: chosen by family name from plain values, the eval one's settings plain data, and a
family or value they cannot use a one-line UserError naming the config key."""

import json
import re

import pytest
import torch
from conftest import compose_train
from hydra.utils import instantiate
from PIL import Image
from torchvision.transforms import v2

from genre_lightning.data import presets
from genre_lightning.data.colormap import ColormapToMagnitude
from genre_lightning.data.crops import TimeCrop
from genre_lightning.errors import user_message

# each family's values, beside the sizes every family is handed (another family's value is refused)
SIZES = {"image_size": 32, "resize_size": 40}
VALUES = {
    "resized_crop": {**SIZES, "crop_scale": 0.5},
    "time_crop": {**SIZES, "crop_width": 24, "eval_width": None, "eval_crops": 1, "colormap": None},
}


@pytest.mark.parametrize(
    "family, settings, shape",
    [
        ("resized_crop", {"image_size": 32, "resize_size": 40}, (3, 32, 32)),
        ("time_crop", {"image_size": 32, "eval_width": None, "eval_crops": 1, "colormap": None}, (3, 32, 64)),
    ],
)
def test_each_family_builds_its_presets_and_keeps_only_its_own_values(family, settings, shape):
    image = Image.new("RGB", (80, 40))
    train = presets.build({"transforms": family, **VALUES[family]}, train=True)
    evaluate = presets.build({"transforms": family, **VALUES[family]}, train=False)
    assert train(image).dtype == torch.uint8 and evaluate(image).shape == shape
    assert evaluate.settings == {"transforms": family, **settings}
    # plain data, and the same preset again from it
    assert json.loads(json.dumps(evaluate.settings)) == evaluate.settings
    assert torch.equal(presets.build(evaluate.settings, train=False)(image), evaluate(image))


@pytest.mark.parametrize("decoded", [False, True], ids=["PIL", "tensor"])
def test_each_preset_is_the_pipeline_its_values_name(decoded):
    """resized_crop is the published project's torchvision pipeline; time_crop maps the colormap, then crops.
    A uint8 tensor (an image decoded on the device, as prediction passes it) goes in as its PIL image does."""
    pixels = torch.randint(0, 256, (3, 40, 90), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    image = pixels if decoded else Image.fromarray(pixels.permute(1, 2, 0).numpy())
    time_crop = {"transforms": "time_crop", **SIZES, "eval_width": 20, "eval_crops": 3, "colormap": "magma"}
    pipelines = [
        (
            presets.build({"transforms": "resized_crop", **VALUES["resized_crop"]}, train=True),
            [v2.RandomResizedCrop(32, scale=(0.5, 1.0), ratio=(0.75, 1.333))],
        ),
        (
            presets.build({"transforms": "resized_crop", **VALUES["resized_crop"]}, train=False),
            [v2.Resize(40), v2.CenterCrop(32)],
        ),
        (
            presets.build({"transforms": "time_crop", **VALUES["time_crop"]}, train=True),
            [TimeCrop(32, 24, train=True)],
        ),
        (presets.build(time_crop, train=False), [ColormapToMagnitude("magma"), TimeCrop(32, 20, crops=3)]),
    ]
    for preset, steps in pipelines:
        torch.manual_seed(0)
        ours = [preset(image) for _ in range(10)]  # the random crops: ten draws alike
        torch.manual_seed(0)
        assert all(torch.equal(crop, v2.Compose(steps)(pixels)) for crop in ours)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "data.transforms.family=flip",
            r"^data.transforms.family: unknown transform family 'flip'; use one of resized_crop",
        ),
        (
            "data.transforms.colormap=nope",
            r"^data.transforms.colormap: 'nope' is not null \(RGB\) or a matplotlib colormap name",
        ),
        (
            "data.transforms.eval_crops=3",
            r"^data.transforms.eval_crops: 3 test-time crops .* set data.transforms.eval_width to a crop",
        ),
        (
            "data.transforms.crop_width=-8",
            r"^data.transforms.crop_width: -8 is not a positive whole number of pixels",
        ),
        ("data.image_size=0", r"^data.image_size=0: must be a whole number >= 1"),
    ],
)
def test_a_value_the_presets_cannot_use_names_its_key(override, message, tmp_path):
    cfg = compose_train(["experiment=fma_small", f"data.root={tmp_path}", override], tmp_path / "run")
    with pytest.raises(Exception) as caught:
        instantiate(cfg.data)
    # what the entry points print: one line
    assert re.search(message, user_message(caught.value) or "")


@pytest.mark.parametrize("value", ["colormap=magma", "eval_crops=3", "eval_width=64"])
def test_a_value_only_another_family_uses_cannot_be_set(value, tmp_path):
    # the default family, resized_crop, has no colormap and no test-time crops: its config has no such key
    with pytest.raises(Exception, match=rf"Could not override 'data.transforms.{value.split('=')[0]}'"):
        compose_train([f"data.root={tmp_path}", f"data.transforms.{value}"], tmp_path / "run")
    # added anyway, it is refused, not ignored
    cfg = compose_train([f"data.root={tmp_path}", f"+data.transforms.{value}"], tmp_path / "run")
    key = f"data.transforms.{value.split('=')[0]}"
    with pytest.raises(Exception) as caught:
        instantiate(cfg.data)
    assert re.search(
        rf"^{key}: .* acts only with transforms time_crop \(this run has resized_crop\); "
        rf"remove {key}, or choose transforms time_crop",
        user_message(caught.value) or "",
    )


@pytest.mark.parametrize(
    "value, message",
    [
        ("crop_scale=0.5", r"0.5 acts only with transforms resized_crop \(this run has time_crop\)"),
        ("crop_scale=0.35", r"0.35 acts only with transforms resized_crop"),  # the other family's default
        ("flip=true", r"no transform family takes flip; remove data.transforms.flip"),
    ],
)
def test_a_time_crop_run_refuses_a_key_no_time_crop_preset_takes(value, message, tmp_path):
    cfg = compose_train(
        ["data/transforms=time_crop", f"data.root={tmp_path}", f"+data.transforms.{value}"], tmp_path / "run"
    )
    with pytest.raises(Exception) as caught:
        instantiate(cfg.data)
    assert re.search(rf"^data.transforms.{value.split('=')[0]}: {message}", user_message(caught.value) or "")


def test_sweeps_and_the_hparams_block_reach_each_familys_values(tmp_path):
    cfg = compose_train([f"data.root={tmp_path}", "data.transforms.crop_scale=0.6"], tmp_path / "run")
    assert cfg.hparams.crop_scale == 0.6 and cfg.hparams.eval_crops is None
    assert cfg.hparams.transforms == "resized_crop"
    cfg = compose_train(["experiment=fma_small", f"data.root={tmp_path}"], tmp_path / "run")
    assert cfg.hparams.crop_scale is None and cfg.hparams.eval_crops == 1
    assert instantiate(cfg.data).train_preset.crop.width == 96
