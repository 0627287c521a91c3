"""Splits and groups someone else made: a split CSV or a folder of GTZAN-style lists matched to the images
by name, data groups kept in one part (across genres too), and FMA's metadata turned into both files."""

import logging

import pytest
from test_duplicates import picture

from genre_lightning.data.drawing import DuplicateConflicts, draw_split
from genre_lightning.data.fma_metadata import main as fma_main
from genre_lightning.data.fma_metadata import read_tracks
from genre_lightning.data.scan import scan
from genre_lightning.data.settings import DataSettings
from genre_lightning.data.split_files import name_key
from genre_lightning.data.splits import discover
from genre_lightning.errors import UserError


def gtzan(root, per_genre=6):
    """blues and rock, named as three GTZAN image exports do: blues/blues00000.png, blues.00001.png,
    blues.00002.jpg..."""
    forms = ["{g}{i:05d}.png", "{g}.{i:05d}.png", "{g}.{i:05d}.jpg"]
    for g, genre in enumerate(("blues", "rock")):
        (root / genre).mkdir(parents=True)
        for i in range(per_genre):
            picture(50 * g + i).save(root / genre / forms[i % 3].format(g=genre, i=i))
    return root


def draw(root, **values):
    _, found = discover(root, None)
    every = [p for paths in found.values() for p in paths]
    settings = DataSettings(root=str(root), **{"num_folds": 2, "seed": 3, **values})
    return draw_split(root, found, scan(every, 10**8, None), settings)


def names(items) -> list[str]:
    return sorted(name_key(path) for path, _ in items)


def test_names_match_by_stem_without_extension_case_or_punctuation():
    for name in (
        "blues/blues.00012.wav",
        "blues/blues00012.png",
        "blues.00012.jpg",
        "Blues.00012",
        "x/BLUES_00012.au",
    ):
        assert name_key(name) == "blues00012", name
    assert name_key("000002") == "000002" and name_key("track.v2.mp3") == "trackv2"


def test_a_gtzan_list_folder_gives_the_test_set_and_folds_drawn_over_train_and_valid(tmp_path, caplog):
    root = gtzan(tmp_path / "img")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train_filtered.txt").write_text(
        "blues/blues.00000.wav\nblues/blues.00001.wav\nrock/rock.00000.wav\n"
    )
    (lists / "valid_filtered.txt").write_text(
        "blues/blues.00002.wav\nrock/rock.00001.wav\nrock/rock.00002.wav\n"
    )
    (lists / "test_filtered.txt").write_text("blues/blues.00003.wav\nrock/rock.00003.wav\n\n")
    with caplog.at_level(logging.INFO):
        result = draw(root, split=str(lists))
    assert names(result.split.test) == ["blues00003", "rock00003"]
    folds = [names(fold) for fold in result.split.folds]
    assert len(folds) == 2 and sorted(sum(folds, [])) == [
        "blues00000",
        "blues00001",
        "blues00002",
        "rock00000",
        "rock00001",
        "rock00002",
    ]
    # blues and rock 4 and 5 are on disk but not in the lists: left out, counted and logged
    assert result.report["split_file"] == {"named": 8, "images_not_named": 4}
    assert "data.split: 4 image(s) it does not name left out" in caplog.text
    assert result.report["sources"]["split"]["file"] == str(lists)
    given = draw(root, split=str(lists), folds="given")
    assert names(given.split.train) == ["blues00000", "blues00001", "rock00000"]
    assert [names(fold) for fold in given.split.folds] == [["blues00002", "rock00001", "rock00002"]]
    assert given.split.train_val(0) == (given.split.train, given.split.folds[0])


def test_a_split_csv_with_paths_stems_or_fold_numbers(tmp_path):
    root = gtzan(tmp_path / "img")
    csv = tmp_path / "split.csv"
    rows = [f"blues/blues.{i:05d}.wav,{part}" for i, part in enumerate(["test", "0", "0", "1", "1", "test"])]
    rows += [f"rock.{i:05d},{part}" for i, part in enumerate(["test", "0", "1", "0", "1", "1"])]
    csv.write_text("path,fold\n" + "\n".join(rows) + "\n")
    result = draw(root, split=str(csv), folds="given")
    assert names(result.split.test) == ["blues00000", "blues00005", "rock00000"]
    assert [names(fold) for fold in result.split.folds] == [
        ["blues00001", "blues00002", "rock00001", "rock00003"],
        ["blues00003", "blues00004", "rock00002", "rock00004", "rock00005"],
    ]


def test_names_the_split_lists_that_are_not_on_disk_stop_the_run_in_one_line(tmp_path):
    root = gtzan(tmp_path / "img")
    csv = tmp_path / "split.csv"
    csv.write_text(
        "stem,part\nblues.00000,train\nblues.00090,val\nrock.00091,test\nrock.00092,test\nx.1,test\n"
    )
    with pytest.raises(UserError) as err:
        draw(root, split=str(csv))
    message = str(err.value)
    assert message.startswith(f"data.split={csv}: 4 named image(s) not found below {root}, e.g. ")
    assert "blues.00090, rock.00091, rock.00092;" in message and "\n" not in message
    csv.write_text("stem,part\nblues.00000,train\nblues.00001,holdout\n")
    with pytest.raises(UserError, match="line 3: part 'holdout' is not train, val"):
        draw(root, split=str(csv))


def test_a_duplicate_on_both_sides_of_a_given_split_is_a_conflict(tmp_path):
    root = gtzan(tmp_path / "img")
    (root / "blues" / "blues.00009.png").write_bytes((root / "blues" / "blues.00001.png").read_bytes())
    csv = tmp_path / "split.csv"
    csv.write_text(
        "stem,part\n" + "".join(f"blues.{i:05d},{'test' if i == 9 else 'train'}\n" for i in (0, 1, 2, 9))
    )
    csv.write_text(csv.read_text() + "".join(f"rock.{i:05d},train\n" for i in range(4)))
    with pytest.raises(DuplicateConflicts, match="1 duplicate group.*blues.00009.png \\(blues, test\\)"):
        draw(root, split=str(csv))
    assert {name_key(p) for p in draw(root, split=str(csv), duplicates="drop").left_out} == {
        "blues00001",
        "blues00009",
    }


def test_data_groups_stay_in_one_part_across_genres_and_missing_files_are_named(tmp_path, caplog):
    root = gtzan(tmp_path / "img", per_genre=12)
    groups = tmp_path / "groups.csv"
    # six artists of two songs each per genre; artist 0 also sings rock 0 and 1
    rows = [f"blues.{i:05d},artist{i // 2}" for i in range(12)]
    rows += [f"rock/rock.{i:05d}.wav,artist{0 if i < 2 else 10 + i // 2}" for i in range(11)]
    groups.write_text("file,artist\n" + "\n".join(rows) + "\n")
    with pytest.raises(UserError, match=r"groups.csv: 1 image\(s\) are in no group, e.g. .*rock.00011.jpg"):
        draw(root, groups=str(groups), test_fraction=0.25)
    with caplog.at_level(logging.INFO):
        result = draw(root, groups=str(groups), groups_missing="own", test_fraction=0.25)
    assert "data.groups: 1 group(s) hold images of several genres (e.g. artist0: blues, rock)" in caplog.text
    group_of = {}
    for row in rows:
        name, group = row.split(",")
        group_of[name_key(name)] = group
    parts = {}
    for part, items in result.split.parts.items():
        for path, _ in items:
            group = group_of.get(name_key(path), name_key(path))
            assert parts.setdefault(group, part) == part, f"{group} in {part} and {parts[group]}"
    # stratified as well as groups allow: every part holds both genres
    for part, items in result.split.parts.items():
        assert {label for _, label in items} == {0, 1}, part
    assert result.report["data_groups"] == {
        "groups": 12,
        "across_genres": 1,
        "images_in_own_groups": 1,
        "names_not_found": 0,
    }
    assert result.report["checked"]["data_groups_in_two_parts"] == 0


FMA_TRACKS = """\
,album,artist,set,set,track
,title,id,split,subset,title
track_id,,,,,
2,AWOL,1,training,small,Food
3,AWOL,1,training,medium,Electric Ave
5,AWOL,1,test,small,This World
10,Kurt,6,validation,small,Freeway
134,AWOL,1,training,large,Street Music
"""


def test_fma_tracks_csv_becomes_a_split_and_a_groups_file(tmp_path, capsys):
    tracks = tmp_path / "tracks.csv"
    tracks.write_text(FMA_TRACKS)
    assert read_tracks(tracks) == [("000002", "train", "1"), ("000005", "test", "1"), ("000010", "val", "6")]
    assert [stem for stem, _, _ in read_tracks(tracks, "medium")] == ["000002", "000003", "000005", "000010"]
    fma_main([str(tracks), "--out", str(tmp_path / "out")])
    assert "3 tracks of fma_small" in capsys.readouterr().out
    assert (tmp_path / "out/split.csv").read_text() == "stem,part\n000002,train\n000005,test\n000010,val\n"
    assert (tmp_path / "out/groups.csv").read_text() == "stem,group\n000002,1\n000005,1\n000010,6\n"
    tracks.write_text(FMA_TRACKS.replace("split", "fold"))
    with pytest.raises(UserError, match="no column\\(s\\) set/split"):
        read_tracks(tracks)
