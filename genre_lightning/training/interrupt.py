"""A stopped run says how to finish it: Ctrl-C or SIGTERM end training with the resume command."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def hint_on_stop(run_dir: Path, writer: bool) -> Iterator[None]:
    """Ctrl-C or SIGTERM ends the run with the command that finishes it, exit status 130 or 143.

    SIGTERM (a cluster's time limit, ``kill``) is turned into the KeyboardInterrupt of Ctrl-C, which
    Lightning answers by stopping its processes and exiting; either way the exit passes through here.
    """
    signals = []

    def terminate(signum, frame):
        signals.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        if writer:
            log.warning("stopped; finish this run with: python train.py resume=%s", run_dir)
        raise SystemExit(143 if signals else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
