"""The README and the documentation site stay what the issue asked: a short README whose test
command is the one CI runs, links that lead somewhere, pictures that exist. (``mkdocs build
--strict``, part of that command, fails on a broken link between pages or a page left out.)"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
README = REPOSITORY / "README.md"
DOCS = REPOSITORY / "docs"
#: Links to this repository's own files, written in full because the site is served elsewhere.
REPOSITORY_LINK = re.compile(r"https://github\.com/UMEssen/SlicerSALTSegmentation/(?:blob|tree)/main/([^)#\s]+)")
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
PAGES = sorted(DOCS.rglob("*.md"))


def readme_test_command() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    commands = [line for block in blocks for line in block.splitlines() if "pytest" in line]
    assert len(commands) == 1, commands
    return commands[0]


def test_readme_is_at_most_250_lines():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


def test_ci_runs_the_readme_test_command():
    last_line = (REPOSITORY / ".ci" / "run").read_text(encoding="utf-8").rstrip("\n").splitlines()[-1]
    assert last_line == readme_test_command()


def test_the_test_command_builds_the_site_strictly():
    assert "python -m mkdocs build --strict --site-dir site" in readme_test_command()


def test_the_built_site_is_ignored_by_git():
    assert "/site/" in (REPOSITORY / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_readme_links_lead_to_files_of_the_repository():
    targets = [link.split("#")[0] for link in MARKDOWN_LINK.findall(README.read_text(encoding="utf-8"))
               if "://" not in link]
    missing = [target for target in targets if not (REPOSITORY / target).exists()]
    assert targets and missing == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_links_to_repository_files_name_files_that_exist(page):
    paths = REPOSITORY_LINK.findall(page.read_text(encoding="utf-8"))
    missing = [path for path in paths if not (REPOSITORY / path).exists()]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_no_page_holds_placeholder_text(page):
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"\b(TODO|TBD|FIXME|XXX)\b|lorem ipsum", text, re.IGNORECASE)


def test_every_picture_the_pages_show_is_a_png_in_docs():
    pictures = {(page.parent / link).resolve() for page in PAGES
                for link in MARKDOWN_LINK.findall(page.read_text(encoding="utf-8")) if link.endswith(".png")}
    assert pictures and all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in pictures)
