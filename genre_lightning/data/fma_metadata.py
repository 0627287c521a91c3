"""FMA's official split and artists, from its metadata, as a data.split and a data.groups file:

    python -m genre_lightning.data.fma_metadata fma_metadata/tracks.csv --subset small --out data/fma_split
    python train.py experiment=fma_small data.root=data/fma_small \
        data.split=data/fma_split/split.csv data.groups=data/fma_split/groups.csv

``tracks.csv`` has a two-row header (('set', 'split'), ('set', 'subset'), ('artist', 'id')...; pandas
writes a third row naming the index, track_id) and the track id in its first column. The files written name
each track by its image stem, the track id in six digits (000002), as FMA names its clips:
split.csv (stem, part: train, val or test) and groups.csv (stem, group: the artist id).
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from genre_lightning.errors import UserError, exit_on_user_error
from genre_lightning.files import write_text

SUBSETS = ("small", "medium", "large")
PARTS = {"training": "train", "validation": "val", "test": "test"}


def read_tracks(path: Path, subset: str = "small") -> list[tuple[str, str, str]]:
    """(stem, part, artist id) of every track of ``subset`` (FMA's subsets nest: small is in medium is in
    large), in the file's order."""
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read it ({err}); pass FMA's fma_metadata/tracks.csv") from None
    if len(rows) < 2:
        raise UserError(f"{path}: no two-row header; pass FMA's fma_metadata/tracks.csv")
    columns = list(zip(rows[0], rows[1]))
    wanted = {("set", "split"): "part", ("set", "subset"): "subset", ("artist", "id"): "artist"}
    at = {name: columns.index(column) for column, name in wanted.items() if column in columns}
    if len(at) < len(wanted):
        missing = [f"{a}/{b}" for (a, b), name in wanted.items() if name not in at]
        raise UserError(f"{path}: no column(s) {', '.join(missing)}; pass FMA's fma_metadata/tracks.csv")
    included = SUBSETS[: SUBSETS.index(subset) + 1]
    tracks = []
    for n, row in enumerate(rows[2:], 3):
        if not row or not row[0].strip() or row[0] == "track_id":  # the index's name row
            continue
        if len(row) <= max(at.values()) or not row[0].isdigit():
            raise UserError(f"{path}: line {n} is not a track row (a track id, then its columns)")
        if row[at["subset"]] not in included:
            continue
        part = PARTS.get(row[at["part"]])
        if part is None:
            raise UserError(
                f"{path}: line {n}: set/split {row[at['part']]!r} is not training, validation or test"
            )
        tracks.append((f"{int(row[0]):06d}", part, row[at["artist"]]))
    return tracks


def write_files(tracks: list[tuple[str, str, str]], out: Path) -> tuple[Path, Path]:
    """split.csv and groups.csv in ``out``."""

    def table(header: list[str], rows) -> str:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([header, *rows])
        return text.getvalue()

    split = write_text(out / "split.csv", table(["stem", "part"], [(s, p) for s, p, _ in tracks]))
    groups = write_text(out / "groups.csv", table(["stem", "group"], [(s, a) for s, _, a in tracks]))
    return split, groups


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tracks", type=Path, help="FMA's fma_metadata/tracks.csv")
    parser.add_argument("--subset", choices=SUBSETS, default="small")
    parser.add_argument("--out", type=Path, required=True, help="folder for split.csv and groups.csv")
    args = parser.parse_args(argv)
    tracks = read_tracks(args.tracks, args.subset)
    split, groups = write_files(tracks, args.out)
    counts = {part: sum(p == part for _, p, _ in tracks) for part in PARTS.values()}
    print(f"{len(tracks)} tracks of fma_{args.subset} ({counts}): {split} and {groups}")


if __name__ == "__main__":
    main()
