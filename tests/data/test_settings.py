"""The data settings: every value checked by kind and range before anything is read, in one line naming
the key."""

import pytest

from genre_lightning.data.settings import DataSettings
from genre_lightning.errors import UserError


@pytest.mark.parametrize(
    "values, message",
    [
        ({"batch_size": "abc"}, "data.batch_size='abc': must be a whole number; fix data.batch_size"),
        ({"batch_size": True}, "data.batch_size=True: must be a whole number"),
        ({"batch_size": 0}, "data.batch_size=0: must be a whole number >= 1"),
        ({"test_fraction": "0.2"}, "data.test_fraction='0.2': must be a number"),
        ({"test_fraction": 1}, "data.test_fraction=1: the share of each genre held out"),
        ({"fold": 5}, r"data.fold=5: must be in 0..4 \(data.num_folds=5\)"),
        ({"num_folds": 1}, "data.num_folds=1: k-fold cross-validation needs at least 2 folds"),
        ({"classes": "Rock"}, "data.classes='Rock': must be a list of names or null"),
        ({"classes": ["Rock", 3]}, r"data.classes=\['Rock', 3\]: must be a list of names or null"),
        ({"resident": "yes"}, "data.resident='yes': must be true or false or auto"),
        ({"resident_share": 0}, "data.resident_share=0: a share of the free memory"),
        ({"bad_files": "ignore"}, "data.bad_files='ignore': must be error, skip"),
        (
            {"transforms": "time_crop"},
            "data.transforms='time_crop': must be a mapping of keys to values or null",
        ),
        ({"batch_augment": [1]}, "data.batch_augment=\\[1\\]: must be a list of configs or null"),
        ({"bacth_size": 8}, "data.bacth_size: no such data setting; the data keys are root, classes"),
    ],
)
def test_a_wrong_value_is_named_in_one_line(values, message):
    with pytest.raises(UserError, match=message) as raised:
        DataSettings.from_config({"root": "data/spectrograms", **values})
    assert "\n" not in str(raised.value)


def test_right_values_pass_and_name_the_folds():
    settings = DataSettings.from_config(
        {"root": "r", "classes": ["Rock", "Pop"], "test_fraction": 0, "fold": 1, "resident": "auto"}
    )
    assert settings.selected_folds == [1] and settings.test_fraction == 0
    assert DataSettings.from_config({"root": "r", "resident": False}).selected_folds == [0, 1, 2, 3, 4]
    with pytest.raises(UserError, match="data.root is missing"):
        DataSettings.from_config({})
