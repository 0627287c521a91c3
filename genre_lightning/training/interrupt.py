"""Stopping: Ctrl-C or SIGTERM end a run (or a sweep) at once, and a stopped run says how to finish it."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# how long a stop that landed where Python ignores exceptions waits to be sent again
RESEND_AFTER_S = 0.05


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """In the block SIGTERM (a cluster's time limit, ``kill``) raises the KeyboardInterrupt of Ctrl-C, which
    Lightning answers by stopping its processes and exiting; yields the stop signals received, in a list.

    Python cannot raise an exception in some places, and prints ``Exception ignored in ...`` instead: the
    callbacks it runs when a process forks (a DataLoader starting its workers; logging's ``_releaseLock``),
    finalizers. A stop landing there would be lost: nothing is printed, and it is sent again a moment
    later, from another thread, so that it lands in the code that follows (or, landing in such a place
    again, is sent again).
    """
    signals: list[int] = []

    def stop(signum, frame):
        signals.append(signum)
        raise KeyboardInterrupt

    def unraisable(info):
        if issubclass(info.exc_type, KeyboardInterrupt) and signals:
            # later: sent now, it would land in this hook (starting a thread waits), where it is lost too
            resend = threading.Timer(RESEND_AFTER_S, os.kill, (os.getpid(), signals[-1]))
            resend.daemon = True
            resend.start()
        else:
            hook(info)

    hook, sys.unraisablehook = sys.unraisablehook, unraisable
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, stop)}
    # Ctrl-C too, unless it was ignored (a background job of a shell without job control)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, stop)
    try:
        yield signals
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = hook


@contextlib.contextmanager
def hint_on_stop(run_dir: Path, writer: bool) -> Iterator[None]:
    """Ctrl-C or SIGTERM ends the run with the command that finishes it, exit status 130 or 143 (Lightning
    turns the KeyboardInterrupt into an exit; either way the exit passes through here)."""
    with stop_signals() as signals:
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            if writer:
                log.warning("stopped; finish this run with: python train.py resume=%s", run_dir)
            raise SystemExit(143 if signal.SIGTERM in signals else 130) from None
