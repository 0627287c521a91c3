"""The one table formatter: text columns for the terminal, Markdown for the docs."""

from genre_lightning.tables import align

ROWS = [["genre", "F1", "notes"], ["Rock", "0.91", ""], ["Hip-Hop", "0.5", "few"]]


def test_text_columns_align_and_strip_trailing_spaces():
    assert align(ROWS, left=1).splitlines() == [
        "genre      F1  notes",
        "Rock     0.91",
        "Hip-Hop   0.5    few",
    ]


def test_markdown_has_a_header_rule_that_right_aligns_the_numbers():
    assert align(ROWS, left=1, markdown=True).splitlines() == [
        "| genre   |   F1 | notes |",
        "| ------- | ---: | ----: |",
        "| Rock    | 0.91 |       |",
        "| Hip-Hop |  0.5 |   few |",
    ]
