"""Issue 17: what prediction reads back from a run folder is data. A checkpoint that names code to call (as
Hydra would) is refused with one line before anything runs, on every path that loads one."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from genre_lightning.errors import UserError
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints, read_summary


class WritesMarker:
    """Unpickled, it opens (creates) the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def payload(kind: str, marker, tmp_path) -> dict:
    """A config that, handed to hydra.utils.instantiate, writes ``marker``."""
    if kind == "write_text":
        path = {"_target_": "pathlib.Path", "_args_": [str(marker)]}
        return {"_target_": "pathlib.Path.write_text", "self": path, "data": "x"}
    if kind == "open":
        return {"_target_": "builtins.open", "file": str(marker), "mode": "w"}
    pickled = tmp_path / "second.pt"
    torch.save(WritesMarker(marker), pickled)
    return {"_target_": "torch.load", "f": str(pickled), "weights_only": False}


def crafted(trained_run, tmp_path, change, plain: bool = True) -> str:
    """A copy of fold 0's best.ckpt with ``change`` applied to its hyperparameters; ``plain``: still data
    that torch.load(weights_only=True) reads."""
    state = torch.load(trained_run / "fold_0/checkpoints/best.ckpt", map_location="cpu", weights_only=True)
    change(state["hyper_parameters"])
    path = tmp_path / "crafted.ckpt"
    torch.save(state, path)
    if plain:
        torch.load(path, weights_only=True)
    return str(path)


@pytest.fixture
def no_server(monkeypatch):
    """app.py up to the point where it would serve the page."""
    from genre_lightning.app import page

    monkeypatch.setattr(page, "launch", lambda *args, **kwargs: None)


@pytest.mark.parametrize("kind", ["write_text", "open", "torch_load"])
@pytest.mark.parametrize("path", ["predict", "export", "app"])
def test_a_checkpoint_that_names_code_is_refused_before_it_runs(
    entry, trained_run, demo_root, tmp_path, no_server, kind, path
):
    marker = tmp_path / "marker"
    transform = payload(kind, marker, tmp_path)
    ckpt = crafted(trained_run, tmp_path, lambda h: h["preprocessing"].update(transform=transform))
    assert not marker.exists()
    args = {
        "predict": ("predict.py", f"ckpt={ckpt}", f"image={next(demo_root.glob('Rock/*.jpg'))}"),
        "export": ("predict.py", f"ckpt={ckpt}", f"export={tmp_path / 'model.onnx'}"),
        "app": ("app.py", f"ckpt={ckpt}", "examples=false"),
    }[path]
    result = entry(*args)
    assert not marker.exists(), "the checkpoint ran code"
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
    assert result.err.startswith(f"error: {ckpt}: holds a callable name")
    assert "a checkpoint must be data: use one written by train.py" in result.err
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize(
    "where",
    [
        lambda h, bad: h["preprocessing"].update(spectrogram=bad),
        lambda h, bad: h["preprocessing"]["transform"].update(colormap=bad),
        lambda h, bad: h.update(mean=[bad, 0.5, 0.5]),
        lambda h, bad: h.update(class_names=[*h["class_names"][:-1], {"name": bad}]),
    ],
    ids=["spectrogram", "transform value", "mean", "class_names"],
)
def test_a_callable_name_anywhere_in_what_prediction_reads_is_refused(trained_run, tmp_path, where):
    marker = tmp_path / "marker"
    ckpt = crafted(trained_run, tmp_path, lambda h: where(h, payload("open", marker, tmp_path)))
    with pytest.raises(UserError, match=r"holds a callable name \(hyper_parameters\.\S+\._target_ = "):
        Ensemble([ckpt])
    assert not marker.exists()


def test_training_configs_in_a_checkpoint_are_never_read(trained_run, demo_root, tmp_path):
    # every checkpoint holds the optimizer and scheduler configs it was trained with (with their _target_):
    # prediction does not read them, so they call nothing
    marker = tmp_path / "marker"
    bad = payload("open", marker, tmp_path)
    ckpt = crafted(trained_run, tmp_path, lambda h: h.update(optimizer=bad, scheduler=bad, compile=bad))
    ensemble = Ensemble([ckpt])
    ensemble.probabilities(ensemble.preprocess(next(demo_root.glob("Rock/*.jpg"))).unsqueeze(0))
    assert not marker.exists()


@pytest.mark.parametrize(
    "which, message",
    [
        (
            "truncated",
            r"crafted\.ckpt: not a genre-lightning checkpoint \(not a torch.save archive: truncated",
        ),
        ("object", r"crafted\.ckpt: not a genre-lightning checkpoint \(it holds objects other than tensors"),
        ("no hparams", r"crafted\.ckpt: not a genre-lightning checkpoint \(hyper_parameters lack"),
        ("weights", r"crafted\.ckpt: not a genre-lightning checkpoint \(RuntimeError: Error\(s\) in loading"),
        ("arch", r"crafted\.ckpt: not a genre-lightning checkpoint \(UserError: model\.arch='vgg'"),
        ("family", r"crafted\.ckpt: unusable preprocessing \(preprocessing\.transform\.transforms: unknown"),
        ("min_size", r"crafted\.ckpt: unusable preprocessing \(min_size 0\)"),
        ("rendering", r"crafted\.ckpt: unusable preprocessing \(.*colour"),
    ],
)
def test_a_foreign_or_damaged_checkpoint_is_one_line(trained_run, tmp_path, which, message):
    changes = {
        "truncated": lambda h: None,
        "object": lambda h: h.update(dropout=WritesMarker(tmp_path / "marker")),
        "no hparams": lambda h: h.clear(),
        "weights": lambda h: h.update(width=8),
        "arch": lambda h: h.update(arch="vgg"),
        "family": lambda h: h["preprocessing"].update(transform={"transforms": "flip", "image_size": 64}),
        "min_size": lambda h: h["preprocessing"].update(min_size=0),
        "rendering": lambda h: h["preprocessing"].update(spectrogram={"colour": "magma"}),
    }
    ckpt = crafted(trained_run, tmp_path, changes[which], plain=which != "object")
    if which == "truncated":
        data = Path(ckpt).read_bytes()
        Path(ckpt).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=message) as caught:
        Ensemble([ckpt])
    assert "\n" not in str(caught.value) and not (tmp_path / "marker").exists()


def test_a_transform_given_as_a_hydra_config_is_refused(trained_run, tmp_path):
    compose = {
        "_target_": "torchvision.transforms.v2.Compose",
        "transforms": [{"_target_": "torchvision.transforms.v2.PILToTensor"}],
    }
    ckpt = crafted(trained_run, tmp_path, lambda h: h["preprocessing"].update(transform=compose))
    with pytest.raises(
        UserError, match=r"holds a callable name \(hyper_parameters.preprocessing.transform._target_"
    ):
        Ensemble([ckpt])


@pytest.mark.parametrize("checkpoint", ["../elsewhere.ckpt", "fold_0/../../elsewhere.ckpt", "ABSOLUTE"])
def test_a_summary_cannot_point_outside_its_run_folder(entry, trained_run, demo_root, tmp_path, checkpoint):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    shutil.copy(trained_run / "fold_0/checkpoints/best.ckpt", tmp_path / "elsewhere.ckpt")
    if checkpoint == "ABSOLUTE":
        checkpoint = str(tmp_path / "elsewhere.ckpt")
    summary = json.loads((run / "cv_summary.json").read_text())
    summary["folds"][1]["checkpoint"] = checkpoint
    (run / "cv_summary.json").write_text(json.dumps(summary))
    result = entry("predict.py", f"ckpt={run}", f"image={next(demo_root.glob('Rock/*.jpg'))}")
    assert result.code == 2, result.err
    assert result.err.strip() == (
        f"error: {run / 'cv_summary.json'}: not a run summary written by train.py (checkpoint "
        f"{checkpoint!r} is outside the run folder); pass the run's fold checkpoints instead"
    )


def test_a_summary_that_does_not_say_whether_the_run_finished_is_refused(tmp_path):
    path = tmp_path / "cv_summary.json"
    path.write_text(json.dumps({"folds": [{"checkpoint": "fold_0/checkpoints/best.ckpt"}]}))
    with pytest.raises(UserError, match="not a run summary written by train.py"):
        read_summary(path)


def test_a_run_stopped_in_its_first_fold_says_how_to_finish_it(entry, trained_run, demo_root, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(trained_run / "split.json", run / "split.json")  # the first thing a run writes
    (run / "fold_0" / "checkpoints").mkdir(parents=True)
    result = entry("predict.py", f"ckpt={run}", f"image={next(demo_root.glob('Rock/*.jpg'))}")
    assert result.code == 2
    assert result.err.strip() == (
        f"error: {run}: the run has no finished fold yet; finish it with python train.py resume={run}"
    )
    with pytest.raises(UserError, match="no finished fold yet"):
        find_checkpoints(run, tmp_path)


@pytest.mark.parametrize("link", ["fold_1", "fold_1/checkpoints/best.ckpt", "cv_summary.json"])
def test_a_link_out_of_the_run_folder_is_refused(entry, trained_run, demo_root, tmp_path, link):
    # the summary's text names paths inside the folder; a link there leads to another run's files
    run, other = tmp_path / "run", tmp_path / "other"
    shutil.copytree(trained_run, run)
    shutil.copytree(trained_run, other)
    shutil.rmtree(run / link) if (run / link).is_dir() else (run / link).unlink()
    (run / link).symlink_to(other / link)
    result = entry("predict.py", f"ckpt={run}", f"image={next(demo_root.glob('Rock/*.jpg'))}")
    assert result.code == 2, result.err
    named = "fold_1/checkpoints/best.ckpt" if link.startswith("fold_1") else link
    assert result.err.strip() == (
        f"error: {run / named}: leads outside the run folder {run} (to {(other / named).resolve()}); "
        "a run's summary and fold checkpoints must be its own: restore them, or pass that checkpoint itself"
    )


def test_a_run_folder_reached_through_a_link_is_its_own(trained_run, tmp_path):
    (tmp_path / "link").symlink_to(trained_run)
    found = find_checkpoints(tmp_path / "link", tmp_path)
    assert [path.resolve() for path in found] == [
        path.resolve() for path in find_checkpoints(trained_run, tmp_path)
    ]


@pytest.mark.parametrize("script", ["predict.py", "eval.py"])
def test_a_checkpoint_whose_weights_diverged_is_refused(entry, trained_run, demo_root, tmp_path, script):
    state = torch.load(trained_run / "fold_0/checkpoints/best.ckpt", map_location="cpu", weights_only=True)
    state["state_dict"]["net.fc.1.bias"][0] = float("nan")
    path = tmp_path / "diverged.ckpt"
    torch.save(state, path)
    images = "image" if script == "predict.py" else "images"
    result = entry(script, f"ckpt={path}", f"{images}={demo_root}", f"hydra.run.dir={tmp_path / 'out'}")
    assert result.code == 2 and "nan" not in result.out.lower(), result.out
    assert result.err.strip() == (
        f"error: {path}: its weight net.fc.1.bias holds NaN or infinite values (the training diverged), so "
        "every probability would be NaN; train again (a lower model.optimizer.lr), or pass another checkpoint"
    )


@pytest.mark.parametrize("script", ["predict.py", "eval.py"])
def test_probabilities_that_are_not_numbers_are_an_error_never_a_number(
    entry, trained_run, demo_root, tmp_path, script
):
    # a temperature of 0 (finite weights) makes every logit infinite: no number may come out as an answer
    state = torch.load(trained_run / "fold_0/checkpoints/best.ckpt", map_location="cpu", weights_only=True)
    state["state_dict"]["temperature"] = torch.tensor(0.0)
    path = tmp_path / "cold.ckpt"
    torch.save(state, path)
    image = next(demo_root.glob("Rock/*.jpg"))
    if script == "predict.py":
        result = entry(script, f"ckpt={path}", f"image={image}")
        assert result.code == 1 and "nan%" not in result.out.lower(), result.out
        row = result.out.splitlines()[1].split()
        assert row[1:7] == ["ERROR", "the", "models'", "probabilities", "for", "this"], result.out
    else:
        result = entry(script, f"ckpt={path}", f"images={demo_root}", f"hydra.run.dir={tmp_path / 'out'}")
        assert result.code == 2 and "nan" not in result.out.lower(), result.out
        assert result.err.strip().endswith(
            "the models' probabilities for this file are not numbers (NaN or infinite); check the "
            "checkpoint; nothing was scored"
        )
