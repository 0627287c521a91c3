"""Headless Chromium as the browser test (tests/app/test_browser.py) and tools/screenshot.py start it:
Debian's `chromium`, driven by Playwright (never `playwright install`)."""

import shutil

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# headless, and nothing fetched from the internet: the page must work from this machine alone
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# a prediction on this machine's CPU, with the other tests running beside it, can take a while
WAIT_MS = 120_000
