"""The README and docs/: every relative link reaches a file (and a heading, for `#` links), the README stays
a front door, every page of docs/ is reachable from it, and it holds the test command CI runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# about 200 lines, with room to grow; the rest belongs in docs/
README_MAX_LINES = 250

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); a title after the target ("...") is not used in these pages
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The text without code, where a `[x](y)` is an example, not a link."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor on a page; a repeated heading gets -1, -2... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """The page's relative links whose file, or heading, does not exist."""
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:...: not ours to check
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {os.path.relpath(linked, ROOT)}")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    return broken


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda page: page.relative_to(ROOT).as_posix())
def test_relative_links_reach_a_file_and_heading(page):
    assert broken_links(page) == []


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## A section: in `code`\n")
    page.write_text(
        "# Page\n\n[fine](other.md#a-section-in-code) [here](#page) [web](https://example.com)\n"
        "[gone](missing.md) [no heading](other.md#nowhere) `[code](not-a-link.md)`\n"
        "```\n[example](also-not-a-link.md)\n```\n"
    )
    assert [link.split(":")[0] for link in broken_links(page)] == ["missing.md", "other.md#nowhere"]


def test_readme_is_a_front_door():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move details to docs/"
    )


def test_every_docs_page_is_linked_from_the_readme():
    targets = LINK.findall(prose(README.read_text()))
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in targets}
    assert [page.name for page in DOCS if page.resolve() not in linked] == []


def test_readme_holds_the_test_command_ci_runs():
    # .ci/run ends with the README's test command, verbatim: a change to one must be made to both
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(), re.S | re.M)
    assert any(command in block.splitlines() for block in blocks), command
