"""Spectrogram-aware crops and the batch augmentations: time moves, frequency stays."""

import pytest
import torch

from genre_lightning.data.augment import CutMix, Mixup, SpecAugment
from genre_lightning.data.crops import TimeCrop


def ramp(height: int = 32, width: int = 80) -> torch.Tensor:
    """uint8 3 x H x W image whose pixel value is its column index (time), the same in every row."""
    return torch.arange(width, dtype=torch.uint8).expand(3, height, width).clone()


def test_time_crop_keeps_every_frequency_and_moves_only_in_time():
    torch.manual_seed(0)
    crop = TimeCrop(height=32, width=24, train=True)
    starts = set()
    for _ in range(20):
        out = crop(ramp())
        assert out.shape == (3, 32, 24)
        # a contiguous stretch of time, identical in every row: no frequency was cut or moved
        assert torch.equal(out, out[:, :1].expand_as(out))
        assert torch.equal(
            out[0, 0], torch.arange(int(out[0, 0, 0]), int(out[0, 0, 0]) + 24, dtype=torch.uint8)
        )
        starts.add(int(out[0, 0, 0]))
    assert len(starts) > 5, "training crops must start at random times"


def test_time_crop_resizes_the_frequency_axis_to_the_height():
    image = torch.zeros(3, 64, 160, dtype=torch.uint8)
    image[:, :32] = 255  # the upper half (high frequencies) bright
    out = TimeCrop(height=32, width=32)(image)
    assert out.shape == (3, 32, 32)
    assert out[:, :15].min() == 255 and out[:, 17:].max() == 0


def test_eval_crops_are_centred_or_evenly_spaced_for_test_time_augmentation():
    centre = TimeCrop(height=32, width=20)(ramp())
    assert int(centre[0, 0, 0]) == 30  # (80 - 20) // 2
    crops = TimeCrop(height=32, width=20, crops=3)(ramp())
    assert crops.shape == (3, 3, 32, 20)
    assert [int(c[0, 0, 0]) for c in crops] == [0, 30, 60]
    whole = TimeCrop(height=16, width=None)(ramp())
    assert whole.shape == (3, 16, 40), "no width: the whole clip, resized to the height"
    with pytest.raises(ValueError, match="crops must be at least 1"):
        TimeCrop(height=32, crops=0)
    with pytest.raises(ValueError, match="crops=3 needs a crop width"):
        TimeCrop(height=32, crops=3)


def test_spec_augment_masks_whole_rows_and_columns_with_the_image_mean():
    torch.manual_seed(0)
    # black and white pixels only: none equals an image's mean colour, so every masked pixel changes
    images = torch.randint(0, 2, (8, 3, 32, 40), dtype=torch.uint8) * 255
    labels = torch.arange(8)
    out, same = SpecAugment(freq_masks=1, freq_width=6, time_masks=1, time_width=5)(images, labels, 8)
    assert torch.equal(same, labels) and out.dtype == torch.uint8
    changed = out != images
    for image, original, mask in zip(out, images, changed.any(dim=1)):
        rows, cols = mask.all(dim=1), mask.all(dim=0)
        # every changed pixel lies in a fully masked row (frequency band) or column (time slice)
        assert torch.equal(mask, rows[:, None] | cols[None, :])
        assert rows.sum() <= 6 and cols.sum() <= 5
        fill = original.float().mean(dim=(1, 2)).to(torch.uint8)
        assert torch.equal(image[:, mask], fill[:, None].expand(3, int(mask.sum())))
    assert changed.any(), "some band must be masked"


def test_mixup_mixes_images_and_targets_with_the_same_weight():
    torch.manual_seed(0)
    images = torch.stack([torch.full((3, 4, 6), 10.0 * i) for i in range(6)])
    out, targets = Mixup(alpha=0.4)(images, torch.arange(6), 6)
    assert targets.shape == (6, 6) and torch.allclose(targets.sum(dim=1), torch.ones(6))
    # image i became lam * image_i + (1 - lam) * image_j; its targets say the same shares
    lam = targets[torch.arange(6), torch.arange(6)]
    other = (targets - torch.diag_embed(lam)).argmax(dim=1)
    expected = lam * 10 * torch.arange(6) + (1 - lam) * 10 * other
    mixed = lam < 1
    assert mixed.any()
    assert torch.allclose(out[mixed, 0, 0, 0], expected[mixed], atol=1e-4)


def test_time_cutmix_pastes_one_slice_of_time_and_shares_targets_by_width():
    torch.manual_seed(1)
    images = torch.stack([torch.full((3, 4, 10), i, dtype=torch.uint8) for i in range(4)])
    out, targets = CutMix(alpha=1.0, time_only=True)(images, torch.arange(4), 4)
    pasted = 0
    for i in range(4):
        columns = out[i, 0, 0]
        foreign = (columns != i).nonzero().flatten().tolist()
        # one contiguous slice of time from one other image
        assert foreign == list(range(foreign[0], foreign[0] + len(foreign))) if foreign else True
        assert len(set(columns[foreign].tolist())) <= 1
        assert targets[i, i] == pytest.approx(1 - len(foreign) / 10)
        pasted += len(foreign)
    assert pasted, "some image must have received a slice"


def test_cutmix_pastes_one_box_of_another_image_and_shares_targets_by_area():
    torch.manual_seed(2)
    images = torch.stack([torch.full((3, 12, 16), i, dtype=torch.uint8) for i in range(6)])
    out, targets = CutMix(alpha=1.0)(images, torch.arange(6), 6)
    pasted = 0
    for i in range(6):
        foreign = out[i, 0] != i
        rows, cols = foreign.any(dim=1).nonzero().flatten(), foreign.any(dim=0).nonzero().flatten()
        if len(rows):
            # one rectangle, at the same place in every channel, from one other image
            assert (
                int(foreign.sum())
                == len(rows) * len(cols)
                == (rows[-1] - rows[0] + 1) * (cols[-1] - cols[0] + 1)
            )
            assert torch.equal(out[i, :, foreign], out[i, :1, foreign].expand(3, -1))
            assert len(set(out[i, 0][foreign].tolist())) == 1
        assert targets[i, i] == pytest.approx(1 - int(foreign.sum()) / (12 * 16))
        pasted += int(foreign.sum())
    assert pasted, "some image must have received a box"
