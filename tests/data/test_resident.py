"""The resident mode: images decoded once into one tensor, batches cropped there by the presets' batched
forms. The per-image presets are the reference: evaluation tensors equal, training draws alike."""

import functools
import logging
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.v2 import functional as TF

from genre_lightning.data import presets
from genre_lightning.data.crops import crop_resize, random_resized_boxes, time_crop_starts
from genre_lightning.data.datamodule import SpectrogramDataModule
from genre_lightning.data.images import decode_jpegs, load_image
from genre_lightning.data.resident import Resident, ResidentBatches, available_memory, choose
from genre_lightning.errors import UserError

# Two-sample Kolmogorov-Smirnov: with 10000 draws on each side, a largest gap between the two empirical
# distributions above 1.95 * sqrt(2 / 10000) = 0.0276 happens by chance once in 1000 (alpha = 0.001)
# when both draw from one distribution; steps of whole pixels only make the test more lenient. The two
# sides draw from generators seeded apart (one stream read two ways would correlate them).
DRAWS, KS_LIMIT = 10000, 0.0276


def ks(a, b) -> float:
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    grid = np.concatenate([a, b])
    return float(
        np.abs(np.searchsorted(a, grid, "right") / len(a) - np.searchsorted(b, grid, "right") / len(b)).max()
    )


def picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth RGB picture with some texture, as spectrograms are (no pixel noise)."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    phase = seed * 0.7
    channels = [np.sin(6 * x + phase) * np.cos(4 * y), np.cos(5 * x * y + phase), np.sin(3 * (x + y))]
    return Image.fromarray(((np.stack(channels, -1) + 1) * 127.5).round().astype(np.uint8))


def batches(images: list[Image.Image], preset, train: bool, batch_size: int = 3, labels=None):
    files = [f"img{i}.png" for i in range(len(images))]
    read = dict(zip(files, images)).__getitem__
    resident = Resident(files, read, preset.before_crop, torch.device("cpu"), workers=0)
    labels = list(range(len(files))) if labels is None else labels
    return ResidentBatches(resident, files, labels, preset, batch_size, train)


SIZES = {"image_size": 32, "resize_size": 40}
# each family's settings (a value of the other family is refused)
SETTINGS = {
    "resized_crop": {"transforms": "resized_crop", **SIZES, "crop_scale": 0.35},
    "time_crop": {"transforms": "time_crop", **SIZES, "crop_width": 24},
}


@pytest.mark.parametrize(
    "family, values",
    [
        ("resized_crop", {}),
        ("time_crop", {}),
        ("time_crop", {"eval_width": 20, "eval_crops": 3}),
        ("time_crop", {"eval_width": 40}),  # narrower images than the crop: stretched
        ("time_crop", {"colormap": "magma"}),
    ],
)
def test_batched_evaluation_gives_the_per_image_tensors(family, values):
    # sizes differ (the set is padded to its largest), aspects match (whole-width crops batch together)
    images = [
        picture(80, 40, 0),
        picture(120, 60, 1),
        picture(80, 40, 2),
        picture(100, 50, 3),
        picture(60, 30, 4),
    ]
    preset = presets.build({**SETTINGS[family], **values}, train=False)
    batched = torch.cat([images for images, _ in batches(images, preset, train=False)])
    reference = torch.stack([preset(image) for image in images])
    assert batched.dtype == torch.uint8 and batched.shape == reference.shape
    # the same resize, once per image (before_crop) or once per group of one size: equal to the last bit
    assert torch.equal(batched, reference)


@pytest.mark.parametrize("family", ["time_crop", "resized_crop"])
def test_whole_images_of_mixed_widths_and_heights_are_evaluated_in_batches_of_one_size(family):
    # widths and heights that differ in aspect: time_crop keeps each image's width, so its tensors differ
    sizes = [(80, 40), (80, 40), (40, 40), (80, 40), (120, 60), (120, 48), (120, 48)]
    images = [picture(w, h, i) for i, (w, h) in enumerate(sizes)]
    preset = presets.build(SETTINGS[family], train=False)
    labels = [10 + i for i in range(len(images))]
    out = list(batches(images, preset, train=False, labels=labels))
    batched = [image for images, _ in out for image in images]
    # the files' order, each image exactly as the per-image preset makes it
    assert [int(label) for _, targets in out for label in targets] == labels
    assert all(torch.equal(ours, preset(image)) for ours, image in zip(batched, images, strict=True))
    if family == "time_crop":  # a batch per run of one resized size (120x60 is 80x40's), at most 3 long
        assert [len(targets) for _, targets in out] == [2, 1, 2, 2]
    else:  # every crop is image_size square: batches as the loaders make them
        assert [len(targets) for _, targets in out] == [3, 3, 1]


def test_batched_random_resized_crops_draw_the_boxes_get_params_draws():
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(1)
    scale, ratio = (0.35, 1.0), (0.75, 1.333)
    # a wide image needs the ten tries' fallback (the whole width cut to aspect 4:3) most of the time
    for height, width in [(40, 80), (10, 100)]:
        sizes = torch.tensor([[height, width]]).expand(DRAWS, 2)
        x0, y0, x1, y1 = random_resized_boxes(sizes, scale, ratio, generator).long().numpy().T
        box = torch.zeros(height, width)
        reference = np.array([RandomResizedCrop.get_params(box, scale, ratio) for _ in range(DRAWS)])
        top, left, h, w = reference.T
        for name, ours, theirs in [
            ("area", (x1 - x0) * (y1 - y0), h * w),
            ("aspect", (x1 - x0) / (y1 - y0), w / h),
            ("left", x0, left),
            ("top", y0, top),
        ]:
            assert ks(ours, theirs) < KS_LIMIT, f"{height}x{width}: {name}"
        assert x0.min() >= 0 and y0.min() >= 0 and x1.max() <= width and y1.max() <= height, "inside"
        if height == 40:  # and every position drawn, to the edges
            assert (x0.min(), y0.min(), x1.max(), y1.max()) == (0, 0, width, height)


def test_batched_time_crops_start_where_time_crop_starts():
    generator = torch.Generator().manual_seed(2)
    torch.manual_seed(3)
    widths = torch.tensor([64, 40, 24]).repeat_interleave(DRAWS)
    starts = time_crop_starts(widths, 24, generator).view(3, DRAWS)
    for i, room in enumerate([40, 16, 0]):
        reference = [int(torch.randint(room + 1, ())) for _ in range(DRAWS)]
        # every start from 0 to the last that fits is drawn (a miss: a chance of (room / (room + 1))^10000)
        assert starts[i].min() == 0 and starts[i].max() == room and ks(starts[i], reference) < KS_LIMIT


def test_a_batched_training_crop_looks_like_the_per_image_one():
    # the same boxes, resized by roi_align (a box filter when shrinking) and by torchvision (a triangle
    # filter): on smooth pictures they differ by under 1.5 levels of 255 on average
    images = torch.stack([TF.pil_to_tensor(picture(120, 90, seed)) for seed in range(4)])
    boxes = torch.tensor(
        [[0, 0, 120, 90], [10, 5, 70, 50], [30, 20, 90, 68], [5, 40, 45, 70]], dtype=torch.float
    )
    ours = crop_resize(images, boxes, (32, 32)).float()
    for image, box, crop in zip(images, boxes.long().tolist(), ours):
        x0, y0, x1, y1 = box
        reference = TF.resized_crop(image, y0, x0, y1 - y0, x1 - x0, [32, 32], antialias=True).float()
        assert (crop - reference).abs().mean() < 1.5
    # and on a finely textured one, shrunk 3.75x, they agree far better than a resize without antialiasing
    y, x = np.mgrid[0:90, 0:120]
    stripes = np.stack([np.sin(x / 2) * np.cos(y / 2.6), np.cos((x + y) / 1.6), np.sin(x / 4)]) + 1
    image = torch.from_numpy((stripes * 127.5).round().astype(np.uint8))
    ours = crop_resize(image[None], boxes[:1], (32, 32))[0].float()
    reference = TF.resize(image, [32, 32], antialias=True).float()
    aliased = TF.resize(image, [32, 32], antialias=False).float()
    assert (ours - reference).abs().mean() < 0.6 * (aliased - reference).abs().mean()


def test_batched_time_crops_are_slices_of_time_and_narrow_images_stretch_as_time_crop_does():
    # pixel value = column (time): a crop of the image after before_crop is a run of consecutive values
    ramp = Image.fromarray(np.tile(np.arange(80, dtype=np.uint8), (32, 1))).convert("RGB")
    narrow = picture(16, 32)  # narrower than the crop: TimeCrop stretches it to 24 columns
    preset = presets.build(SETTINGS["time_crop"], train=True)
    # sliced from the set (every image as wide as the crop or wider), or resampled (one narrower)
    for last in (ramp, narrow):
        loader = batches([ramp] * 9 + [last], preset, train=True, batch_size=10)
        torch.manual_seed(4)
        starts = set()
        for _ in range(30):
            [(images, labels)] = list(loader)
            for image, label in zip(images, labels):
                if label == 9 and last is narrow:
                    assert (image.float() - preset(narrow).float()).abs().max() <= 1
                    continue
                start = int(image[0, 0, 0])
                assert torch.equal(
                    image, torch.arange(start, start + 24, dtype=torch.uint8).expand(3, 32, 24)
                )
                starts.add(start)
        assert min(starts) == 0 and max(starts) == 80 - 24 and len(starts) > 45, "starts over all the room"


@pytest.mark.parametrize("family", ["resized_crop", "time_crop"])
def test_resident_training_batches_are_each_epoch_a_new_order_of_every_image(family):
    # image i is filled with the value i: whatever the crop, a batch says which images it holds
    images = [Image.new("RGB", (80 + 20 * (i % 2), 40), (i, i, i)) for i in range(12)]
    preset = presets.build(SETTINGS[family], train=True)
    loader = batches(images, preset, train=True, batch_size=5, labels=[100 + i for i in range(12)])
    assert len(loader) == 2, "the last partial batch is dropped"

    def epoch():
        drawn = [(images, labels) for images, labels in loader]
        assert all(images.shape == (5, 3, 32, 32 if family == "resized_crop" else 24) for images, _ in drawn)
        # every pixel of an image still holds its index, and its label follows it
        values = torch.cat([images.flatten(1) for images, _ in drawn])
        assert torch.equal(values, values[:, :1].expand_as(values))
        assert torch.equal(values[:, 0].long() + 100, torch.cat([labels for _, labels in drawn]))
        return values[:, 0].tolist()

    torch.manual_seed(3)
    first, second = epoch(), epoch()
    assert len(set(first)) == 10 and first != second, "ten different images, in a new order each epoch"
    torch.manual_seed(3)
    assert epoch() == first, "the same seed draws the same epochs"


def test_resident_or_not_is_decided_by_the_share_of_free_memory():
    cpu = torch.device("cpu")
    free = available_memory(cpu)
    assert free > 0
    assert choose("auto", 1000, cpu, 0.5, 1)[0] is True
    keep, why = choose("auto", free, cpu, 0.5, 1)
    assert keep is False and "over data.resident_share=0.5" in why
    assert choose(True, free, cpu, 0.5, 1)[0] is True and choose(False, 1000, cpu, 0.5, 1)[0] is False
    assert choose("auto", 1000, cpu, 0.5, 2)[0] is False
    with pytest.raises(UserError, match="data.resident=true keeps one set per device"):
        choose(True, 1000, cpu, 0.5, 2)


def test_auto_keeps_the_path_a_resumed_run_started_on_or_says_it_no_longer_fits():
    cpu = torch.device("cpu")
    free = available_memory(cpu)
    keep, why = choose("auto", 1000, cpu, 0.5, 1, kept=False)
    assert (
        keep is False and why == "data.resident=auto: decoding per epoch, as this run chose when it started"
    )
    assert choose("auto", 1000, cpu, 0.5, 1, kept=True)[0] is True
    with pytest.raises(UserError) as caught:
        choose("auto", free, cpu, 0.5, 1, kept=True)
    assert re.fullmatch(
        r"data.resident=auto kept this run's images on the device when it started, and now they do not fit "
        r"\(\d+ MiB decoded, \d+ MiB free on cpu, over data.resident_share=0.5\); free memory, or resume "
        r"with data.resident_share=1 to keep them there anyway",
        str(caught.value),
    )
    assert choose(False, 1000, cpu, 0.5, 1, kept=True)[0] is False, "a setting other than auto is obeyed"


def test_both_paths_split_alike_and_the_log_says_which_was_taken(demo_root, caplog):
    def loaders(**settings):
        dm = SpectrogramDataModule(root=str(demo_root), num_folds=2, num_workers=0, image_size=32, **settings)
        dm.setup()
        return [
            loader.files if hasattr(loader, "files") else loader.dataset.files
            for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader())
        ]

    with caplog.at_level(logging.INFO, logger="genre_lightning"):
        resident = loaders(resident="auto")
        assert "images kept decoded on the device: data.resident=auto" in caplog.text
        assert loaders(resident=False) == resident
        assert "images decoded by the loaders: data.resident=false" in caplog.text
        assert loaders(resident="auto", resident_share=1e-12) == resident
        assert "over data.resident_share=1e-12; decoding per epoch" in caplog.text
    with pytest.raises(UserError, match="data.resident='yes': must be true or false or auto"):
        SpectrogramDataModule(root=str(demo_root), resident="yes")


def test_jpegs_decoded_on_the_device_match_the_host_decoding(tmp_path):
    # what a GPU does with nvJPEG, run here on the CPU: the full decode averaged down to the size libjpeg's
    # DCT scaling gives; the two reductions differ at sharp edges (the sawtooth channel) by under 1.5
    # levels of 255 on average
    y, x = np.mgrid[0:300, 0:400]
    array = np.stack([x / 400 * 255, y / 300 * 255, (x + y) % 256], -1).astype(np.uint8)
    files = []
    for i, (w, h) in enumerate([(400, 300), (200, 150), (64, 48)]):
        files.append(str(tmp_path / f"{i}.jpg"))
        Image.fromarray(array).resize((w, h)).save(files[-1], quality=90)
    for min_size in (40, 64):
        decoded = decode_jpegs(files, min_size, "cpu")
        for path, image in zip(files, decoded):
            reference = TF.pil_to_tensor(load_image(path, min_size))
            assert image.dtype == torch.uint8 and image.shape == reference.shape
            assert (image.float() - reference.float()).abs().mean() < 1.5
    # a set kept resident through it: the same sizes as from the host's decoding
    preset = presets.build(SETTINGS["resized_crop"], train=False)
    read = functools.partial(load_image, min_size=40)
    host = Resident(files, read, preset.before_crop, torch.device("cpu"), workers=0)
    jpegs = functools.partial(decode_jpegs, min_size=40, device="cpu")
    device = Resident(files, read, preset.before_crop, torch.device("cpu"), workers=0, jpegs_on_device=jpegs)
    assert device.host_sizes == host.host_sizes and device.images.shape == host.images.shape
    assert (device.images.float() - host.images.float()).abs().mean() < 1.5


@pytest.mark.parametrize("family", ["resized_crop", "time_crop"])
def test_the_set_is_sized_from_every_image_not_the_first(tmp_path, family):
    # the first file is the smallest: sizing from it alone would promise a quarter of the memory
    root = tmp_path / "set"
    for g, (genre, sizes) in enumerate(
        {"A": [(48, 40), (160, 40), (96, 72)], "B": [(96, 72), (64, 120), (96, 72)]}.items()
    ):
        (root / genre).mkdir(parents=True)
        for i, (width, height) in enumerate(sizes):
            # a picture each: one picture in both genres would be a duplicate filed under two labels
            picture(width, height, seed=3 * g + i).save(root / genre / f"{i}.png")
    values = {"family": family, **({"crop_scale": 0.35} if family == "resized_crop" else {"crop_width": 24})}
    dm = SpectrogramDataModule(
        root=str(root), num_folds=2, test_fraction=0, num_workers=0, image_size=32, resize_size=36,
        resident=True, transforms=values, cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    dm.setup()
    files = [path for path, _ in dm.split.items]
    predicted = dm.resident_bytes(files)
    assert dm._use_resident()
    # the widest and the tallest images differ, so no one image gives the tensor's size
    assert predicted == dm.resident_set.images.numel()
