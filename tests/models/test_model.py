import pytest
import torch
import torch.nn.functional as F
from conftest import CONFIGS
from hydra.utils import instantiate
from lightning.pytorch import Callback, Trainer
from omegaconf import OmegaConf
from torch import nn

from genre_lightning.constants import IMAGENET_MEAN, IMAGENET_STD
from genre_lightning.errors import UserError
from genre_lightning.models.classifier import GenreClassifier
from genre_lightning.models.resnet import build_resnet
from genre_lightning.models.schedules import warmup_cosine


def test_the_model_config_normalises_with_imagenets_statistics():
    # the config holds the values users override (model.mean=[0.5] for one channel); they must stay the
    # ones the ImageNet weights were trained with
    cfg = OmegaConf.load(CONFIGS / "model" / "resnet.yaml")
    assert (tuple(cfg.mean), tuple(cfg.std)) == (IMAGENET_MEAN, IMAGENET_STD)


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


def test_imagenet_weights_load_from_torch_home(imagenet_resnet18):
    # torchvision reads $TORCH_HOME/hub/checkpoints/<file> without downloading when the file is there
    net = build_resnet("resnet18", num_classes=7, weights="imagenet")
    assert torch.equal(net.conv1.weight, imagenet_resnet18.conv1.weight)
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
    datamodule.setup()  # the genres are known once the images are split
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


def test_test_time_crops_average_the_logits_of_each_images_crops():
    torch.manual_seed(0)
    model = GenreClassifier(["a", "b", "c"], arch="resnet18", weights=None).eval()
    crops = torch.randint(0, 256, (2, 3, 3, 64, 48), dtype=torch.uint8)
    with torch.no_grad():
        expected = torch.stack([model(image).mean(dim=0) for image in crops])
        assert torch.allclose(model(crops), expected, atol=1e-5)


def test_training_loss_takes_mixed_targets_and_label_smoothing():
    torch.manual_seed(0)
    model = GenreClassifier(["a", "b", "c"], arch="resnet18", weights=None, label_smoothing=0.1)
    model.log = model.log_dict = lambda *args, **kwargs: None  # no Trainer to log to
    images = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 1.0, 0.0], [0.2, 0.0, 0.8], [0.0, 0.5, 0.5]])
    model.eval()  # no dropout: the same logits twice
    with torch.no_grad():
        loss = float(model._step((images, soft), "train"))
        logits = model(images)
    smoothed = soft * 0.9 + 0.1 / 3
    assert loss == pytest.approx(float(-(smoothed * logits.log_softmax(-1)).sum(-1).mean()), rel=1e-5)
    # validation reports the plain cross-entropy, whatever the smoothing
    labels = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        val_loss = float(model._step((images, labels), "val"))
    assert val_loss == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-5)


def test_probabilities_apply_the_temperature_and_old_checkpoints_load_with_one(tmp_path):
    model = GenreClassifier(["a", "b", "c"], arch="resnet18", weights=None).eval()
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    model.temperature.fill_(2.5)
    with torch.no_grad():
        assert torch.allclose(model.probabilities(images), (model(images) / 2.5).softmax(-1))
    state = {"state_dict": {k: v for k, v in model.state_dict().items() if k != "temperature"}}
    model.on_load_checkpoint(state)
    assert float(state["state_dict"]["temperature"]) == 1.0


def test_warmup_cosine_rises_then_decays_to_the_final_factor():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = warmup_cosine(optimizer, total_steps=100, warmup_fraction=0.1, final_factor=0.01)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.01) and lrs[9] == pytest.approx(0.1)
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10])) and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(0.001, abs=1e-4)


def test_width_narrows_every_stage_and_needs_random_weights():
    net = build_resnet("resnet18", num_classes=8, weights=None, width=32)
    assert net.conv1.out_channels == 32 and net.layer4[-1].conv2.out_channels == 256
    assert net.fc[1].in_features == 256 and net(torch.rand(2, 3, 64, 48)).shape == (2, 8)
    with pytest.raises(UserError, match="model.width=32: ImageNet weights exist for width 64 only"):
        build_resnet("resnet18", weights="imagenet", width=32)


def test_weight_decay_can_spare_norm_scales_and_biases():
    optimizer_cfg = {"_target_": "torch.optim.AdamW", "lr": 1e-3, "weight_decay": 0.05}
    model = GenreClassifier(
        ["a", "b"], arch="resnet18", weights=None, optimizer=optimizer_cfg, decay_norm_and_bias=False
    )
    decayed, spared = model.configure_optimizers().param_groups
    assert decayed["weight_decay"] == 0.05 and all(p.ndim > 1 for p in decayed["params"])
    assert spared["weight_decay"] == 0.0 and all(p.ndim == 1 for p in spared["params"])
    assert len(decayed["params"]) + len(spared["params"]) == len(list(model.parameters()))


def test_confusion_counts_give_torchmetrics_accuracy_and_macro_f1():
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    from genre_lightning.metrics import ConfusionCounts, summary_scores

    generator = torch.Generator().manual_seed(0)
    # class 4 is never the target nor predicted (left out of the macro mean), class 3 only predicted
    logits = torch.randn(50, 5, generator=generator)
    logits[:, 4] -= 100
    labels = torch.randint(0, 3, (50,), generator=generator)
    counts = ConfusionCounts(5)
    for part in range(0, 50, 16):  # batches of an epoch add up
        counts.update(logits[part : part + 16], labels[part : part + 16])
    scores = summary_scores(counts.compute())
    accuracy = multiclass_accuracy(logits, labels, 5, average="micro")
    assert scores["acc"].item() == pytest.approx(accuracy.item())
    f1 = multiclass_f1_score(logits, labels, 5, average="macro")
    assert scores["f1"].item() == pytest.approx(f1.item())


def test_confusion_counts_stay_exact_under_bf16_autocast():
    from genre_lightning.metrics import ConfusionCounts

    counts = ConfusionCounts(3)
    logits = torch.tensor([[0.0, 1.0, 0.0]]).repeat(301, 1)  # 301 is no bf16 number
    with torch.autocast("cpu", dtype=torch.bfloat16):
        counts.update(logits, torch.ones(301, dtype=torch.long))
    assert counts.compute()[1, 1].item() == 301
