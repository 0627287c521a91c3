"""app.py's usage errors: one line, exit status 2, before anything is served."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_usage_errors_are_one_line_and_exit_2(entry, trained_run, tmp_path, taken_port):
    cases = {
        "checkpoint not found": [f"ckpt={tmp_path / 'missing.ckpt'}"],
        "max_seconds=0: must be positive": [f"ckpt={trained_run}", "max_seconds=0"],
        "aggregate=median: unknown": [f"ckpt={trained_run}", "aggregate=median"],
        "uncertain.min_margin=2: must be between 0 and 1": [f"ckpt={trained_run}", "uncertain.min_margin=2"],
        f"cannot serve on 127.0.0.1:{taken_port} (the port is taken": [
            f"ckpt={trained_run}",
            f"port={taken_port}",
            "examples=false",
        ],
    }
    for message, args in cases.items():
        result = entry("app.py", *args)
        assert result.code == 2, (message, result.err)
        assert message in result.err and len(result.err.strip().splitlines()) == 1, result.err
