"""hparams_search's search space (hydra.sweeper.params, in hydra-optuna-sweeper's syntax) as Optuna's
distributions: what each form samples, a value on the command line holding a searched key, and a space
Optuna cannot sample refused in one line."""

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from genre_lightning.errors import UserError
from hydra_plugins.genre_lightning_plugins.search_space import parse


def test_each_form_is_the_distribution_it_names():
    space, fixed = parse(
        [
            "model.optimizer.lr=tag(log, interval(0.0005, 0.1))",
            "model.dropout=interval(0.0, 0.7)",
            "data.batch_size=choice(16, 32, 64)",
            "model.arch=choice(resnet18, resnet34)",
            # Hydra's range stops before its stop: 1, 2, 3, 4 and 8, 16, 24, 32
            "trainer.max_epochs=range(1, 5)",
            "model.width=range(8, 40, 8)",
            "data.transforms.crop_scale=range(0.2, 0.5, 0.1)",
            "data.image_size=64",
        ]
    )
    assert space == {
        "model.optimizer.lr": FloatDistribution(0.0005, 0.1, log=True),
        "model.dropout": FloatDistribution(0.0, 0.7),
        "data.batch_size": CategoricalDistribution([16, 32, 64]),
        "model.arch": CategoricalDistribution(["resnet18", "resnet34"]),
        "trainer.max_epochs": IntDistribution(1, 4),
        "model.width": IntDistribution(8, 32, step=8),
        "data.transforms.crop_scale": FloatDistribution(0.2, 0.4, step=0.1),
    }
    assert fixed == {"data.image_size": "64"}


def test_a_value_given_later_holds_a_searched_key():
    # hydra.sweeper.params come first, the command line's values after them
    space, fixed = parse(["model.dropout=interval(0.0, 0.7)", "data.batch_size=16", "model.dropout=0.3"])
    assert space == {} and fixed == {"model.dropout": "0.3", "data.batch_size": "16"}
    space, fixed = parse(["data.batch_size=16", "data.batch_size=choice(16, 32)"])
    assert space == {"data.batch_size": CategoricalDistribution([16, 32])} and fixed == {}


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.dropout=interval(0.7, 0.1)", r"^model.dropout: .*low.*high.*; fix model.dropout$"),
        (
            "model.optimizer.lr=tag(log, interval(0.0, 0.1))",
            r"^model.optimizer.lr: .*; fix model.optimizer.lr$",
        ),
        ("trainer.max_epochs=range(5, 1)", r"^trainer.max_epochs=range\(5, 1, 1\) holds no value"),
    ],
)
def test_a_space_optuna_cannot_sample_is_refused_in_one_line(override, message):
    with pytest.raises(UserError, match=message):
        parse([override])
