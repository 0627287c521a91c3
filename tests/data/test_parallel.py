"""The map over files in loader workers that the scan and the decoded cache share, and their cache names."""

import os

import pytest

from genre_lightning.data.parallel import cache_key, parallel_map
from genre_lightning.errors import UserError


def square_in_a_worker(n: int) -> tuple[int, int]:
    return n * n, os.getpid()


def refuse_three(n: int) -> int:
    if n == 3:
        raise UserError(f"item {n}: refused; pick another")
    return n


def test_results_come_in_order_from_the_workers():
    results = list(parallel_map(square_in_a_worker, list(range(10)), num_workers=2, chunk=3))
    assert [square for square, _ in results] == [n * n for n in range(10)]
    assert os.getpid() not in {pid for _, pid in results}, "computed in worker processes"


@pytest.mark.parametrize("workers", [0, 2])
def test_a_user_error_in_a_worker_arrives_as_the_same_one_line_error(workers):
    with pytest.raises(UserError) as err:
        list(parallel_map(refuse_three, list(range(6)), num_workers=workers))
    assert str(err.value) == "item 3: refused; pick another"


def test_the_cache_key_names_the_folder_and_changes_with_the_settings(tmp_path):
    files = [str(tmp_path / "Rock" / "a.jpg"), str(tmp_path / "Rock" / "live" / "b.jpg")]
    assert cache_key(files, 64).startswith("Rock-")
    assert cache_key(files, 64) == cache_key(list(reversed(files)), 64)
    assert cache_key(files, 64) != cache_key(files, 96) != cache_key(files)
    assert cache_key(files) != cache_key([str(tmp_path / "Pop" / "a.jpg")])
