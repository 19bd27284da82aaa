"""The docs are tested: every command the README lists answers ``--help``, and every relative link
in the README and docs/ reaches a file, and with ``#anchor`` a heading of that file.

Pages go stale when code moves (the web moved from tongban/kiosk to tongban/web, and a command
can be renamed); a reader who follows a dead link or types a command that no longer exists stops
trusting every page.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("**/*.md"))]

# ---------- the README's "Command line" table ----------

# A command word, or alternatives written as add/list/disable/passwd.
COMMAND_WORD = re.compile(r"[a-z][a-z0-9-]*(?:/[a-z][a-z0-9-]*)*")


def section(text: str, heading: str) -> str:
    """The lines under ``heading`` (any level), up to the next heading."""
    out, inside = [], False
    for line in text.splitlines():
        if re.match(r"#{1,6}\s", line):
            if inside:
                break
            inside = line.lstrip("#").strip() == heading
            continue
        if inside:
            out.append(line)
    return "\n".join(out)


def table_first_cells(text: str) -> list[str]:
    """The first cell of each body row of the first Markdown table in ``text``."""
    rows = [line for line in text.splitlines() if line.startswith("|")]
    cells = [row.strip("|").split("|")[0].strip() for row in rows]
    return [c for c in cells[1:] if not re.fullmatch(r":?-+:?", c)]


def commands_in(cell: str) -> list[tuple[str, ...]]:
    """The command words of one table cell, each as a tuple of words after ``tongban``.

    ``tongban serve --config F [--db P]`` gives ("serve",): words stop at the first option,
    placeholder (F, URL, FILE…) or bracket. ``tongban account add/list`` gives one command per
    alternative. A code span that does not start with ``tongban`` continues the one before it and
    replaces its last word: ``tongban printers test URL`` / ``preview --out F`` is ``printers
    preview``, and ``tongban backup`` / ``restore FILE`` is ``restore``.
    """
    out: list[tuple[str, ...]] = []
    previous: list[str] = []
    for span in re.findall(r"`([^`]+)`", cell):
        tokens = span.split()
        if tokens and tokens[0] == "tongban":
            base, tokens = [], tokens[1:]
        else:
            base = previous[:-1]
        words = list(itertools.takewhile(COMMAND_WORD.fullmatch, tokens))
        previous = base + words
        out.extend(itertools.product(*(word.split("/") for word in previous)))
    return out


def readme_commands() -> list[tuple[str, ...]]:
    cells = table_first_cells(section(README.read_text(encoding="utf-8"), "Command line"))
    return [command for cell in cells for command in commands_in(cell)]


def test_the_command_table_is_read_as_meant():
    assert commands_in("`tongban serve --config F [--db P --host H --port N]`") == [("serve",)]
    assert commands_in("`tongban check-config F…`") == [("check-config",)]
    assert commands_in("`tongban account add/list`") == [("account", "add"), ("account", "list")]
    assert commands_in("`tongban printers test URL` / `preview --out F`") == [
        ("printers", "test"),
        ("printers", "preview"),
    ]
    assert commands_in("`tongban backup` / `restore FILE`") == [("backup",), ("restore",)]
    # The README's table is found and read: not an empty list that passes by testing nothing.
    assert len(readme_commands()) >= 15


@pytest.mark.parametrize("words", readme_commands(), ids=" ".join)
def test_every_command_in_the_readme_answers_help(words):
    result = subprocess.run(
        [sys.executable, "-m", "tongban", *words, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"tongban {' '.join(words)} --help:\n{result.stdout}{result.stderr}"
    assert "Usage:" in result.stdout


# ---------- relative links and their anchors ----------

FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text as shown, lowercased, punctuation dropped (letters
    of every script, digits, '_' and '-' kept, so CJK stays), each space a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor in ``page``; a repeated heading gets -1, -2… as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def relative_links(page: Path) -> list[str]:
    """Link targets in ``page`` that are not URLs (inline, image and reference links; code skipped)."""
    out = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        line = re.sub(r"`[^`]*`", "", line)
        targets = LINK.findall(line)
        reference = REFERENCE.match(line)
        if reference:
            targets.append(reference.group(1))
        out.extend(t for t in targets if not SCHEME.match(t))
    return out


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def broken_links(page: Path) -> list[str]:
    problems = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        goal = (page.parent / path).resolve() if path else page
        name = f"{shown(page)}: ({target})"
        if not goal.exists():
            problems.append(f"{name}: no file {shown(goal)}")
        elif anchor and goal.suffix != ".md":
            problems.append(f"{name}: an anchor into a file that is not Markdown")
        elif anchor and anchor not in anchors(goal):
            problems.append(f"{name}: no heading with the anchor #{anchor} in {goal.name}")
    return problems


def test_slugs_follow_github():
    assert slug("Ticket lifecycle") == "ticket-lifecycle"
    assert slug("Errors and texts") == "errors-and-texts"
    assert slug("1. Packages (no internet)") == "1-packages-no-internet"
    assert slug("`sum8-ff` — sum-mod-256 checksum, FF trailer (GB2312)") == (
        "sum8-ff--sum-mod-256-checksum-ff-trailer-gb2312"
    )
    assert slug("Cross-province cases: 代收代办 and 多地联办") == "cross-province-cases-代收代办-and-多地联办"
    assert slug("The hall simulator (`tongban simulate`)") == "the-hall-simulator-tongban-simulate"


def test_the_link_checker_sees_links_and_skips_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n\n[ok](#top) [gone](missing.md) ![img](pic.png) [web](https://example.org/x)\n"
        "`[not a link](nowhere.md)`\n\n```\n[also not](nowhere.md)\n```\n\n[ref]: other.md#nothing-here\n",
        encoding="utf-8",
    )
    (tmp_path / "other.md").write_text("# Something\n", encoding="utf-8")
    assert relative_links(page) == ["#top", "missing.md", "pic.png", "other.md#nothing-here"]
    problems = broken_links(page)
    assert len(problems) == 3, problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_its_file_and_heading(page):
    assert broken_links(page) == []


# ---------- comments cite the repository's design ----------

ARCHITECTURE = ROOT / "docs" / "architecture.md"
CITATION = re.compile(r"docs/architecture\.md\s+§([^,);.`\n]+)((?:,\s*§[^,);.`\n]+)*)")
BRIEF = re.compile("DESIGN" + r"(?:\s*§|\.md)")
SOURCE_DIRS = ("tongban", "tests", "bench", "scripts", "systemd", "config", "docs")
SKIP = {ARCHITECTURE, Path(__file__).resolve()}


def source_texts() -> list[tuple[Path, str]]:
    """Every text file of the project that may hold a comment (code, templates, units, pages)."""
    paths = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "Makefile"]
    for folder in SOURCE_DIRS:
        paths += [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    out = []
    for path in sorted(paths):
        if path.resolve() in SKIP or path.stat().st_size > 1_000_000:
            continue
        try:
            out.append((path, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue  # images, sounds, the database
    return out


def level2_headings(page: Path) -> set[str]:
    matches = (HEADING.match(line) for line in prose_lines(page.read_text(encoding="utf-8")))
    return {m.group(2) for m in matches if m and m.group(1) == "##"}


def test_cited_sections_of_the_architecture_page_exist():
    sections = level2_headings(ARCHITECTURE)
    cited = []
    for path, text in source_texts():
        for match in CITATION.finditer(text):
            names = [match.group(1), *re.findall(r"§([^,);.`\n]+)", match.group(2))]
            cited += [(shown(path), name.strip()) for name in names]
    assert len(cited) > 50  # the comments are found: not an empty list that passes by testing nothing
    assert [c for c in cited if c[1] not in sections] == []


def test_nothing_cites_the_team_brief():
    assert [shown(path) for path, text in source_texts() if BRIEF.search(text)] == []
