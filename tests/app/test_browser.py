"""The page in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) drops in a bad
file, picks an example and drops in a song, as a user would, and reads what the page shows.

Skipped, with the reason, where Playwright or Chromium is missing; .ci/run installs Chromium.
"""

from __future__ import annotations

import pytest
from PIL import Image

from genre_lightning.app.page import rounded
from genre_lightning.predict.report import top_k
from tools.chromium import ARGS, CHROMIUM, WAIT_MS

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is missing: pip install -e '.[test]'"
)


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium on PATH: apt-get install chromium (Debian) to run the browser test")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def test_a_bad_file_an_example_and_a_song_in_the_page(browser, served, tmp_path, write_song):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF but not a song")
    song = write_song(tmp_path / "punk.wav", seconds=9.0, genre="Punk")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((served.url, "data:", "blob:"))
            else None
        ),
    )
    page.goto(served.url)
    error = page.get_by_text("broken.wav: cannot decode audio")

    page.set_input_files("#song input[type=file]", str(broken))
    error.wait_for(timeout=WAIT_MS)
    assert page.get_by_text("Cannot use this file").is_visible()

    # the next answer replaces the error
    page.get_by_text("punk.jpg", exact=True).click()  # from the examples row
    page.get_by_text("a spectrogram image (one picture").wait_for(timeout=WAIT_MS)
    assert error.count() == 0

    # one file at a time: the example emptied the song input
    page.set_input_files("#song input[type=file]", str(song))
    page.get_by_text("3 windows over 0:09 of audio").wait_for(timeout=WAIT_MS)
    prediction = rounded(served.classifier.classify(song).prediction)  # as the page shows it
    names = served.classifier.ensemble.class_names
    [first, second] = top_k(prediction, names, 2)
    assert page.inner_text("#top-genre h2") == f"{first[0]} · {first[1]:.1%}"
    # the near-tie line, when configs/app.yaml's rule calls the answer uncertain
    doubt = served.uncertainty.line([first, second])
    assert (page.get_by_text(doubt).count() == 1) if doubt else (page.get_by_text("Uncertain:").count() == 0)
    # the genres ranked, highest first
    ranked = [name for name, _ in top_k(prediction, names, len(names))]
    assert page.locator("#genres dt").all_inner_texts() == ranked
    # the player holds the song that was sent: its 9 s
    assert "0:09" in page.inner_text("#song")
    screenshot = tmp_path / "app.png"
    page.screenshot(path=screenshot, full_page=True)
    print(f"screenshot: {screenshot}")
    assert Image.open(screenshot).size[0] == 1280
    assert not outside, f"the page fetched from outside this machine: {outside}"
