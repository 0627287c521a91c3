"""docs/app.png, taken from the real page: app.py serves a run's model, headless Chromium (as in the browser
test) picks the medley example and photographs the whole page.

    python train.py experiment=demo                       # or any finished run
    python tools/screenshot.py ckpt=latest                # app.py's arguments
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from chromium import ARGS, CHROMIUM, WAIT_MS
from playwright import sync_api

from genre_lightning.files import write_bytes

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "app.png"
# a song of three genres in turn: the timeline shows the changes, the headline a near-tie
EXAMPLE = "medley-classical-rock-electronic.flac"


def main(app_args: list[str]) -> None:
    if CHROMIUM is None:
        raise SystemExit("no Chromium on PATH: apt-get install chromium (Debian)")
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "port=null", *app_args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        served = re.match(r"serving on (\S+)", app.stdout.readline())  # app.py's first line once it serves
        if served is None:
            raise SystemExit(f"app.py did not start: {app.communicate()[1].strip()}")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(served[1])
            page.get_by_text(EXAMPLE, exact=True).click()
            page.get_by_text(f"{EXAMPLE}: ").wait_for(timeout=WAIT_MS)
            page.wait_for_load_state("networkidle")  # the charts' and the player's files
            write_bytes(SCREENSHOT, page.screenshot(full_page=True, type="png"))
            browser.close()
    finally:
        app.terminate()
        app.communicate()
    print(f"wrote {SCREENSHOT.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
