"""Atomic writes (genre_lightning/files.py): an exclusive write claims a new file in one step, so of two
writers of one new file the second is refused and the first one's file stays whole."""

import multiprocessing

import pytest

from genre_lightning.files import atomic_path, write_text


def test_of_two_interleaved_exclusive_writers_the_second_is_refused(tmp_path):
    path = tmp_path / "preds.csv"
    # both find the name free and write their temporary files; the first to finish takes the name
    first, second = atomic_path(path, exclusive=True), atomic_path(path, exclusive=True)
    first.__enter__().write_text("first\n")
    second.__enter__().write_text("second\n")
    first.__exit__(None, None, None)
    with pytest.raises(FileExistsError):
        second.__exit__(None, None, None)
    assert path.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["preds.csv"], "no temporary file is left"
    with pytest.raises(FileExistsError):
        write_text(path, "third\n", exclusive=True)
    write_text(path, "replaced\n")  # an ordinary write replaces
    assert path.read_text() == "replaced\n"


def _race(path, barrier, name, results):
    barrier.wait()
    try:
        write_text(path, name * 100_000, exclusive=True)
        results.put(name)
    except FileExistsError:
        results.put(None)


def test_of_two_processes_writing_one_new_file_exactly_one_wins(tmp_path):
    context = multiprocessing.get_context("spawn")
    for round in range(5):
        path, barrier, results = tmp_path / f"out{round}.csv", context.Barrier(2), context.Queue()
        workers = [context.Process(target=_race, args=(path, barrier, name, results)) for name in "ab"]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        outcome = sorted([results.get(timeout=10), results.get(timeout=10)], key=str)
        assert outcome[0] is None and outcome[1] in ("a", "b"), outcome
        assert path.read_text() == outcome[1] * 100_000, "the winner's file, whole"
