"""data.trim: the plot area of spectrograms exported as matplotlib figures, found at the scan and cut out the
same way in training (both data paths) and in prediction; bare spectrograms, silent edges included, left as
they are."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest
import torch
from conftest import TINY, compose_train
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genre_lightning.data.datamodule import SpectrogramDataModule  # noqa: E402
from genre_lightning.data.images import MAX_PIXELS, decode_jpegs, load_image  # noqa: E402
from genre_lightning.data.scan import scan  # noqa: E402
from genre_lightning.data.trim import check_trim, file_box, find_box, plan  # noqa: E402
from genre_lightning.errors import InputWarning, UserError  # noqa: E402
from genre_lightning.predict.ensemble import Ensemble, find_checkpoints  # noqa: E402
from genre_lightning.training.kfold import train  # noqa: E402


def spectrogram(seed: int = 0, height: int = 48, width: int = 72, silent: int = 0) -> np.ndarray:
    """Levels 0..1 of a synthetic spectrogram: louder low bands, notes in time, noise; ``silent`` columns of
    level 0 at its start and its end."""
    rng = np.random.default_rng(seed)
    bands = np.linspace(1, 0.3, height)[::-1, None]
    notes = 0.5 + 0.5 * np.sin(np.linspace(0, 9, width))[None, :] ** 2
    levels = np.clip(bands * notes * (0.7 + 0.3 * rng.random((height, width))), 0, 1)
    if silent:
        levels[:, :silent] = levels[:, -silent:] = 0
    return levels


def figure(
    path, form: str, draw: str = "imshow", levels=None, facecolor: str = "white", spine: float = 0.8
) -> list[float]:
    """Write the spectrogram as people export it; return matplotlib's plot area [left, top, right, bottom]
    in the file's pixels. form: margins (no axes), axes (ticks, labels, a title), colorbar, rgba
    (transparent); ``spine``: the axis frame's width in points."""
    levels = spectrogram() if levels is None else levels
    fig = plt.figure(figsize=(3.2, 2.4), dpi=80, facecolor=facecolor)
    ax = fig.add_axes((0.08, 0.1, 0.84, 0.8) if form == "margins" else (0.18, 0.17, 0.6, 0.7))
    if draw == "imshow":
        mesh = ax.imshow(levels, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=1)
    else:
        mesh = ax.pcolormesh(levels, cmap="viridis", vmin=0, vmax=1)
    for side in ax.spines.values():
        side.set_linewidth(spine)
    if form == "margins":
        ax.set_axis_off()
    else:
        ax.set(xlabel="time (s)", ylabel="mel band", title="a song")
    if form == "colorbar":
        fig.colorbar(mesh, ax=ax, label="dB")
    fig.canvas.draw()
    left, bottom, right, top = ax.get_window_extent().extents
    height = fig.canvas.get_width_height()[1]
    fig.savefig(path, **({"transparent": True} if form == "rgba" else {"facecolor": facecolor}))
    plt.close(fig)
    return [left, height - top, right, height - bottom]


def bare(path, levels, cmap: str = "magma") -> np.ndarray:
    """The levels as a bare spectrogram image (every pixel the colormap's), as build_dataset writes them."""
    pixels = (matplotlib.colormaps[cmap](levels[::-1])[..., :3] * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return pixels


@pytest.mark.parametrize("draw", ["imshow", "pcolormesh"])
@pytest.mark.parametrize(
    "form, suffix",
    [("margins", "png"), ("axes", "png"), ("axes", "jpg"), ("colorbar", "png"), ("rgba", "png")],
)
def test_the_scan_finds_a_figures_plot_area_within_2_px(tmp_path, form, suffix, draw):
    path = tmp_path / f"figure.{suffix}"
    truth = figure(path, form, draw)
    if form == "rgba":
        with Image.open(path) as image:
            assert image.mode == "RGBA" and np.asarray(image)[0, 0, 3] == 0, "a transparent background"
    box = scan([str(path)], MAX_PIXELS, None, find_boxes=True)[str(path)]["box"]
    assert np.abs(np.subtract(box, truth)).max() <= 2, (box, truth)


def test_a_plot_on_black_paper_is_found_and_a_silent_plot_edge_on_white_paper_is_kept(tmp_path):
    truth = figure(tmp_path / "dark.png", "axes", "pcolormesh", facecolor="black")
    with Image.open(tmp_path / "dark.png") as image:
        assert np.abs(np.subtract(find_box(image), truth)).max() <= 2
    # the silent first and last 8 columns of the plot (magma's black) are inside the white paper's box
    truth = figure(tmp_path / "silent.png", "colorbar", levels=spectrogram(silent=8))
    with Image.open(tmp_path / "silent.png") as image:
        assert np.abs(np.subtract(find_box(image), truth)).max() <= 2


@pytest.mark.parametrize("suffix", ["png", "jpg"])
@pytest.mark.parametrize("spine", [0.8, 3.0])
def test_the_axis_frame_drawn_on_the_plots_edge_is_cut_off(tmp_path, suffix, spine):
    """The spines (black, 1 and 3.3 px at 80 dpi) lie on the plot's edge, inside the paper's box, half of
    their width over the plot: the box is what they leave of it, and none of its four outermost lines is
    black."""
    path = tmp_path / f"framed.{suffix}"
    truth = figure(path, "axes", "pcolormesh", spine=spine)
    with Image.open(path) as image:
        left, top, right, bottom = find_box(image)
        plot = np.asarray(image.convert("RGB"))[top:bottom, left:right]
    half = spine * 80 / 72 / 2
    visible = np.add(truth, [half, half, -half, -half])
    assert np.abs(np.subtract([left, top, right, bottom], visible)).max() <= 2
    for edge in (plot[0], plot[-1], plot[:, 0], plot[:, -1]):
        assert (edge.max(axis=-1) <= 48).mean() < 0.5, "a line of the frame is left"


@pytest.mark.parametrize("suffix", ["png", "jpg"])
@pytest.mark.parametrize("silent", [0, 10])
def test_a_bare_spectrogram_is_left_exactly_as_it_is_silent_edges_too(tmp_path, suffix, silent):
    """Paper runs around all four edges: silent first and last columns (magma's black, the colour of black
    paper) and silent top bands are the spectrogram's own, while its low bands sound."""
    levels = spectrogram(silent=silent)
    levels[-6:] = 0  # the top bands silent too (an MP3's low-pass)
    path = str(tmp_path / f"bare.{suffix}")
    pixels = bare(path, levels)
    if silent:
        assert (pixels[:, :silent] == pixels[0, 0]).all(), "the silent columns are one colour"
    record = scan([path], MAX_PIXELS, None, find_boxes=True)[path]
    assert record["box"] == [0, 0, 72, 48]
    boxes, usual, _, text = plan("auto", {path: record})
    assert boxes == {} and usual == [[72, 48, 0, 0, 72, 48]] and "1\t72x48\twhole" in text
    # read through the DataModule's reading: the very pixels of the plain decode
    dm = SpectrogramDataModule(root=str(tmp_path), image_size=32, resize_size=32)
    dm.boxes = boxes
    dm.read = None
    dm.split = True  # read without a split: only the reading is looked at
    dm.setup()
    assert np.array_equal(np.asarray(dm.read(path)), np.asarray(load_image(path, 32)))


def test_an_image_far_from_the_usual_box_of_its_size_is_listed_and_cut_to_it():
    records = {
        f"data/Rock/{i}.png": {"size": [320, 240], "box": [50, 40, 250, 200 + i % 2]} for i in range(4)
    }
    # its silent start; a tab in its name, escaped in trim.txt as in every list
    records["data/Rock/qu\tiet.png"] = {"size": [320, 240], "box": [70, 40, 250, 200]}
    records["data/Folk/other.png"] = {"size": [200, 100], "box": [10, 10, 190, 90]}  # another size
    boxes, usual, line, text = plan("auto", records)
    assert boxes["data/Rock/qu\tiet.png"] == [50, 40, 250, 200], "cut to the usual box"
    assert boxes["data/Rock/1.png"] == [50, 40, 250, 201], "a pixel off: its own box"
    assert boxes["data/Folk/other.png"] == [10, 10, 190, 90]
    assert usual == [[320, 240, 50, 40, 250, 200], [200, 100, 10, 10, 190, 90]]
    assert "1 far from" in line and "\n" not in line
    assert "'data/Rock/qu\\tiet.png'\t[70, 40, 250, 200]" in text.splitlines()
    assert "3\t320x240\t[50, 40, 250, 200]" in text.splitlines()


def test_a_given_box_cuts_every_image_and_must_fit_and_be_a_box():
    records = {"a.png": {"size": [320, 240]}, "b.png": {"size": [320, 240]}}
    assert plan([10, 20, 300, 220], records)[0] == {p: [10, 20, 300, 220] for p in records}
    assert plan("off", records)[0] == {}
    with pytest.raises(UserError, match=r"b.png: 320x240 pixels, smaller than data.trim=\[0, 0, 400, 100\]"):
        plan([0, 0, 400, 100], {"b.png": {"size": [320, 240]}})
    for wrong in ("yes", [10, 0, 5, 5], [0, 0, 1.5, 2], [0, 0, 10]):
        with pytest.raises(UserError, match="data.trim=.*fix data.trim"):
            check_trim(wrong)


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_an_image_is_decoded_cut_to_its_box_at_the_size_that_keeps_min_size(tmp_path, suffix):
    path = str(tmp_path / f"big.{suffix}")
    y, x = np.mgrid[:480, :640]
    # smooth, and different everywhere: a box cut in the wrong place shows
    pattern = np.stack([x * 255 / 640, y * 255 / 480, 128 + 100 * np.sin(x / 15) * np.cos(y / 20)], axis=-1)
    Image.fromarray(pattern.astype(np.uint8)).save(path, quality=95)
    box = [100, 60, 420, 380]  # 320 x 320: 1/2 scale keeps 160 px, a JPEG decodes at it
    cut = load_image(path, 128, box=box)
    assert cut.size == (160, 160)
    full = torch.from_numpy(np.array(load_image(path))).permute(2, 0, 1)
    on_device = decode_jpegs([path], 128, "cpu", boxes={path: box})[0] if suffix == "jpg" else None
    expected = full[:, 60:380, 100:420].float().reshape(3, 160, 2, 160, 2).mean(dim=(2, 4))
    assert (torch.from_numpy(np.array(cut)).permute(2, 0, 1).float() - expected).abs().mean() < 2
    if on_device is not None:  # the device decode cuts the same box
        assert on_device.shape == (3, 160, 160)
        assert (on_device.float() - expected).abs().mean() < 2


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """Two genres of eight figures each (axes, ticks, labels, a title: 256 x 192 px), and matplotlib's plot
    area, the same in every file."""
    root = tmp_path_factory.mktemp("figures") / "spectrograms"
    for genre, draw in (("Rock", "imshow"), ("Folk", "pcolormesh")):
        (root / genre).mkdir(parents=True)
        for i in range(8):
            truth = figure(root / genre / f"{i}.png", "axes", draw, spectrogram(seed=i))
    return root, truth


def test_both_data_paths_and_the_cache_cut_the_figures_alike(figures, tmp_path):
    root, truth = figures
    batches = []
    for resident, cache in ((False, False), (True, False), (False, True)):
        dm = SpectrogramDataModule(
            root=str(root),
            image_size=32,
            resize_size=32,
            num_folds=2,
            num_workers=0,
            resident=resident,
            cache=cache,
            cache_dir=str(tmp_path),
        )
        dm.setup()
        assert np.abs(np.subtract(next(iter(dm.boxes.values())), truth)).max() <= 2
        assert len(dm.boxes) == 16 and dm.preprocessing["trim"] == "auto"
        batches.append(next(iter(dm.test_dataloader()))[0])
    assert torch.equal(batches[0], batches[1]) and torch.equal(batches[0], batches[2])
    # the plot's own pixels: 32 px high (resized from its box), and no paper (white) left at its sides
    assert batches[0].shape[-2] == 32 and (batches[0][..., [0, -1]].float().mean(dim=1) < 200).all()


def test_the_checkpoint_keeps_the_rule_and_prediction_cuts_a_figure_as_training_did(figures, tmp_path):
    root, truth = figures
    run = tmp_path / "run"
    train(compose_train([*TINY, f"data.root={root}", "data.image_size=32", "data.resize_size=32"], run))
    found = (run / "trim.txt").read_text().splitlines()[1].split("\t")
    assert found[:2] == ["16", "256x192"] and np.abs(np.subtract(json.loads(found[2]), truth)).max() <= 2
    ensemble = Ensemble(find_checkpoints(run, run.parent), precision="32")
    assert ensemble.preprocessing["trim"] == "auto"
    assert ensemble.preprocessing["trim_usual"] == [[256, 192, *json.loads(found[2])]]
    dm = SpectrogramDataModule(root=str(root), image_size=32, resize_size=32, num_folds=2)
    dm.setup()
    path = root / "Folk" / "3.png"
    assert torch.equal(ensemble.preprocess(path), dm.eval_preset(dm.read(str(path))))
    # a figure of another size is cut to its own plot area; one of the training size whose plot area lies
    # elsewhere (margins only) to the training images' box, with a warning
    truth = figure(tmp_path / "large.png", "colorbar")
    with Image.open(tmp_path / "large.png") as image:
        image.resize((400, 300)).save(tmp_path / "large.png")
    box = file_box(tmp_path / "large.png", "auto", ensemble.trim_usual, MAX_PIXELS)
    assert np.abs(np.subtract(box, np.multiply(truth, 400 / 256))).max() <= 3
    figure(tmp_path / "margins.png", "margins")
    with pytest.warns(InputWarning, match="far from the .* of the model's training images of this size"):
        assert file_box(tmp_path / "margins.png", "auto", ensemble.trim_usual, MAX_PIXELS) == json.loads(
            found[2]
        )
