import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch import Callback, Trainer
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


class LearningRates(Callback):
    """Records the learning rate each training epoch starts with, and each validation loss."""

    def __init__(self):
        self.lrs, self.val_losses = [], []

    def on_train_epoch_start(self, trainer, pl_module):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_validation_epoch_end(self, trainer, pl_module):
        self.val_losses.append(trainer.callback_metrics["val/loss"].item())


def test_scheduler_halves_the_lr_when_the_validation_loss_stops_improving(tiny_cfg):
    datamodule = instantiate(tiny_cfg().data)
    model = GenreClassifier(
        datamodule.class_names,
        arch="resnet18",
        weights=None,
        optimizer={"_target_": "torch.optim.SGD", "lr": 1e-7},
        scheduler={
            "_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau",
            "mode": "min",
            "factor": 0.5,
            "patience": 0,
        },
    )
    # A validation loss that cannot improve: frozen BatchNorm statistics, and steps too small to move it
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.0
    record = LearningRates()
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=4,
        limit_train_batches=2,
        num_sanity_val_steps=0,
        callbacks=[record],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=datamodule)
    assert record.val_losses == pytest.approx([record.val_losses[0]] * 4, rel=5e-5)
    # the first epoch sets the best loss; after each later one (patience 0) the rate halves
    assert record.lrs == pytest.approx([1e-7, 1e-7, 5e-8, 2.5e-8])
