"""What the scan and the decoded cache share: a map over files in loader worker processes, and the names
of the caches they keep for a set of files."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from torch.utils.data import DataLoader, Dataset

from genre_lightning.errors import UserError


def parallel_map(function: Callable, items: list, num_workers: int = 0, chunk: int = 1) -> Iterator:
    """``function(item)`` of every item, in order, computed in ``num_workers`` DataLoader worker processes
    (0: in this one), ``chunk`` items per round trip; lazily, so results can be written as they come.

    A worker process is what a DataLoader already starts the project's way; ``function`` and ``items`` must
    pickle. A UserError in a worker is raised here as the same one-line UserError.
    """
    loader = DataLoader(_Map(function, items), batch_size=chunk, num_workers=num_workers, collate_fn=list)
    for batch in loader:
        for result in batch:
            if isinstance(result, _Failed):
                raise UserError(result.message)
            yield result


class _Failed:
    """A worker's UserError, sent back as its message: raised there, it would reach the caller wrapped in a
    multi-line traceback."""

    def __init__(self, message: str):
        self.message = message


class _Map(Dataset):
    def __init__(self, function: Callable, items: list):
        self.function, self.items = function, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        try:
            return self.function(self.items[index])
        except UserError as err:
            return _Failed(str(err))


def cache_key(files: list[str], *settings) -> str:
    """``<folder>-<8 hex digits>``: the name shared by the caches of ``files`` (below their common folder)
    made with ``settings``, so a new cache of the same files can find and replace the one before it."""
    folder = os.path.commonpath([os.path.abspath(f) for f in files])
    return f"{Path(folder).name}-{digest([folder, *settings])[:8]}"


def digest(value) -> str:
    """A stable hex digest of a JSON-serialisable value."""
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()
