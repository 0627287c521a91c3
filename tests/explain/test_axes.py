"""The model input's rows and columns named as music: bands in Hz through the rendering, segments in seconds,
and what the eval presets keep of an image."""

import pytest

from genre_lightning.audio.rendering import Rendering
from genre_lightning.audio.spectrogram import SpectrogramSpec, hz_to_mel
from genre_lightning.explain.axes import Extent, bands_hz, input_extent, segments
from genre_lightning.explain.explainer import shares

BANDS = {"bass": 250, "mids": 2000, "highs": None}


def test_bands_follow_the_mel_scale_of_the_rendering():
    rendering = Rendering(SpectrogramSpec(sample_rate=22050, fmin=0, fmax=None))
    bands = bands_hz(rendering, BANDS, 128, Extent(), rows=4)
    assert [band.name for band in bands] == [
        "bass (below 250 Hz)",
        "mids (250 Hz-2 kHz)",
        "highs (above 2 kHz)",
    ]
    # bottom to top, every row in one band: low frequencies at the image's bottom
    assert bands[0].stop == 128 and bands[-1].start == 0
    assert [b.start for b in bands[:-1]] == [b.stop for b in bands[1:]]
    # 250 Hz sits where the mel scale puts it, not at 250 / 11025 of the height
    assert bands[0].start == round((1 - hz_to_mel(250) / hz_to_mel(11025)) * 128)
    assert 128 - bands[0].start > 128 * 250 / 11025 * 2


def test_bands_the_image_does_not_show_are_left_out():
    rendering = Rendering(SpectrogramSpec(fmin=300, fmax=1500))
    assert [band.name for band in bands_hz(rendering, BANDS, 64, Extent(), rows=4)] == [
        "mids (300 Hz-1.5 kHz)"
    ]


def test_without_a_rendering_bands_are_rows():
    bands = bands_hz(None, BANDS, 64, Extent(), rows=4)
    assert [(b.name, b.start, b.stop) for b in bands][0] == ("rows 0-16 of 64 from the bottom", 48, 64)
    assert len(bands) == 4


def test_segments_are_named_by_their_time_in_the_song():
    named = segments(96, 6, Extent(), (30.0, 60.0))
    assert [part.name for part in named] == [
        "0:30-0:35",
        "0:35-0:40",
        "0:40-0:45",
        "0:45-0:50",
        "0:50-0:55",
        "0:55-1:00",
    ]
    # a centre crop that kept half the width covers the middle half of the window's time
    assert segments(96, 2, Extent(0.25, 0.75), (0.0, 40.0))[0].name == "0:10-0:20"
    assert segments(96, 2, Extent(), None)[1].name == "columns 48-96 of 96"


@pytest.mark.parametrize(
    ("transform", "size", "expected"),
    [
        # a wide image: every row kept, the centre of its width
        ({"transforms": "resized_crop", "image_size": 64, "resize_size": 64}, (128, 64), Extent(0.25, 0.75)),
        # a tall one: the centre of its height
        (
            {"transforms": "resized_crop", "image_size": 64, "resize_size": 64},
            (64, 128),
            Extent(0, 1, 0.25, 0.75),
        ),
        ({"transforms": "time_crop", "image_size": 64, "eval_width": None}, (200, 50), Extent()),
        ({"transforms": "time_crop", "image_size": 64, "eval_width": 128}, (512, 128), Extent(0.25, 0.75)),
    ],
)
def test_the_input_extent_is_what_the_eval_preset_keeps(transform, size, expected):
    assert input_extent(transform, *size) == pytest.approx(expected)


def test_shares_are_of_the_positive_drops():
    assert shares([0.3, -0.2, 0.1]) == pytest.approx([0.75, 0.0, 0.25])
    assert shares([-0.1, 0.0]) == [0.0, 0.0]
