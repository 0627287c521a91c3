import pytest
import torch
from torch import nn
from torchvision import models

from genre_lightning.errors import UserError
from genre_lightning.models.classifier import GenreClassifier
from genre_lightning.models.resnet import build_resnet


def test_head_is_dropout_then_linear():
    net = build_resnet("resnet50", num_classes=7, dropout=0.5, weights=None)
    assert isinstance(net.fc[0], nn.Dropout) and net.fc[0].p == 0.5
    assert isinstance(net.fc[1], nn.Linear) and (net.fc[1].in_features, net.fc[1].out_features) == (2048, 7)


def test_dropout_is_active_in_training_only():
    model = GenreClassifier(["a", "b", "c"], arch="resnet18", weights=None, dropout=0.9)
    images = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    model.train()
    assert not torch.equal(model(images), model(images)), "dropout must randomise training passes"
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(images), model(images))
        assert model(images).shape == (4, 3)


def test_imagenet_weights_load_from_torch_home(tmp_path, monkeypatch):
    # torchvision reads $TORCH_HOME/hub/checkpoints/<file> without downloading when the file is there
    reference = models.resnet18(weights=None)
    file = models.ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[-1]
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(reference.state_dict(), tmp_path / "hub" / "checkpoints" / file)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    net = build_resnet("resnet18", num_classes=7, weights="imagenet")
    assert torch.equal(net.conv1.weight, reference.conv1.weight)
    assert net.fc[1].out_features == 7


def test_missing_imagenet_weights_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    # a proxy on a closed local port makes the download fail at once, as on an offline machine
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    with pytest.raises(
        UserError,
        match=r"cannot load ImageNet weights for resnet18.*resnet18-f37072fd.pth.*model.weights=null",
    ):
        build_resnet("resnet18", weights="imagenet")


@pytest.mark.parametrize(
    "kwargs, message",
    [({"arch": "vgg16"}, "model.arch='vgg16'"), ({"weights": "coco"}, "model.weights='coco'")],
)
def test_bad_model_choices_are_clear_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        build_resnet(**{"weights": None, **kwargs})


def test_scheduler_steps_on_validation_loss():
    model = GenreClassifier(
        ["a", "b"],
        arch="resnet18",
        weights=None,
        optimizer={"_target_": "torch.optim.SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4},
        scheduler={
            "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
            "mode": "min",
            "factor": 0.5,
            "patience": 5,
        },
    )
    config = model.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.SGD)
    assert config["optimizer"].defaults["weight_decay"] == 1e-4
    assert isinstance(config["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert config["lr_scheduler"]["monitor"] == "val/loss"
