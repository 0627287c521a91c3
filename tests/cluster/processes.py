"""`python train.py ...` as the cluster tests start it: several at once, each checked once it exits."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def start_train(*args: str, env: dict | None = None) -> subprocess.Popen:
    """`python train.py ARGS`, started (the cluster tests run several at once)."""
    return subprocess.Popen(
        [sys.executable, "train.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, code: int = 0) -> str:
    """What a started process printed (stdout, then stderr), once it has exited with status `code`."""
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == code, out[-3000:] + err[-3000:]
    return out + err
