"""What the Slicer Extensions Index and citing users read: the top-level CMake metadata (one base
URL, this project's own "Slicer"-prefixed repository, URLs the index's check can read), the
description file ``SALTSegmentation.json`` against the index's schema, ``CITATION.cff`` against the
facts of CFF 1.2.0 with SALT's authors and DOIs, and one citation text in the README, the model
catalogue and the module."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

import slicer_test_support  # noqa: F401  (path set-up)
from slicer_test_support import REPO, install_scripted_module_shim

CMAKE = REPO / "CMakeLists.txt"
DESCRIPTION = REPO / "SALTSegmentation.json"
CITATION = REPO / "CITATION.cff"
#: The Extensions Index's schema, as published in Slicer/ExtensionsIndex (schemas/).
INDEX_SCHEMA = Path(__file__).parent / "schemas" / "slicer-extension-catalog-entry-schema-v1.0.2.json"
INDEX_SCHEMA_URL = ("https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/"
                    "slicer-extension-catalog-entry-schema-v1.0.2.json#")
#: How the index's pull-request check (scripts/check_description_files.py) reads CMakeLists.txt.
INDEX_ICON_PATTERN = r'set\s*\(EXTENSION_ICONURL\s*"([^"]+)"[ ]*\)'
INDEX_SCREENSHOTS_PATTERN = r'set\s*\(EXTENSION_SCREENSHOTURLS\s*"([^"]+)"\)'
INDEX_REPOSITORY_PREFIXES = ("Slicer", "Slicer-", "Slicer_", "SlicerExtension-", "SlicerExtension_")
#: The facts of CFF 1.2.0's schema (citation-file-format/citation-file-format, schema.json) this
#: file relies on.
CFF_DOI = r"^10\.\d{4,9}(\.\d+)?/[A-Za-z0-9:/_;\-\.\(\)\[\]\\]+$"
CFF_PERSON_OR_ENTITY = {"anyOf": [
    {"type": "object", "required": ["family-names", "given-names"],
     "properties": {"family-names": {"type": "string", "minLength": 1},
                    "given-names": {"type": "string", "minLength": 1}}},
    {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}}]}
CFF_REFERENCE = {
    "type": "object", "required": ["authors", "title", "type"],
    "properties": {"authors": {"type": "array", "minItems": 1, "items": CFF_PERSON_OR_ENTITY},
                   "title": {"type": "string", "minLength": 1},
                   "type": {"enum": ["article", "unpublished", "software", "generic"]},
                   "doi": {"type": "string", "pattern": CFF_DOI},
                   "year": {"anyOf": [{"type": "integer"}, {"type": "string", "minLength": 1}]}}}
CFF_SCHEMA = {
    "type": "object", "required": ["authors", "cff-version", "message", "title"],
    "properties": {"cff-version": {"type": "string", "pattern": r"^1\.2\.0$"},
                   "authors": {"type": "array", "minItems": 1, "items": CFF_PERSON_OR_ENTITY},
                   "repository-code": {"type": "string", "pattern": r"^https?://"},
                   "preferred-citation": CFF_REFERENCE,
                   "references": {"type": "array", "items": CFF_REFERENCE}}}

SCI_REP_AUTHORS = ["Becker S.S.", "Baldini G.", "Schmidt C.S.", "et al."]
PREPRINT_AUTHORS = ["Koitka S.", "Baldini G.", "Schmidt C.S.", "Pollok O.B.", "Pelka O.", "Kohnke J.",
                    "Borys K.", "Friedrich C.M.", "Schaarschmidt B.M.", "Forsting M.", "Umutlu L.",
                    "Haubold J.", "Nensa F.", "Hosch R."]
#: Names of the author list the README had, which matches no published version.
WRONG_AUTHORS = ["Kroll", "Landeghem", "Kim M.", "Kleesiek"]


def cmake_variables() -> dict[str, str]:
    text = CMAKE.read_text()
    return dict(re.findall(r'^set\((\w+)\s+"([^"]*)"\)', text, re.MULTILINE))


def cmake_project() -> str:
    return re.search(r"^project\((\w+)", CMAKE.read_text(), re.MULTILINE).group(1)


def repository_url() -> str:
    return cmake_variables()["EXTENSION_REPOSITORY_URL"]


def raw_base() -> str:
    return repository_url().replace("https://github.com/", "https://raw.githubusercontent.com/") + "/main/"


def citation() -> dict:
    return yaml.safe_load(CITATION.read_text(encoding="utf-8"))


def author_text(authors: list[dict]) -> list[str]:
    """CFF authors as the citation text writes them: "Schmidt C.S."."""
    return [a["name"] if "name" in a else f"{a['family-names']} {a['given-names'].replace(' ', '')}"
            for a in authors]


def citation_texts() -> tuple[str, str]:
    """The Sci Rep article and the preprint as one-line citations, built from CITATION.cff (every
    author ends with a full stop: "Hosch R. SALT: ...")."""
    sci_rep, preprint = citation()["references"]
    first = (f"{', '.join(author_text(sci_rep['authors']))} {sci_rep['title']}. Sci Rep {sci_rep['volume']}, "
             f"{sci_rep['start']} ({sci_rep['year']}). doi:{sci_rep['doi']}")
    arxiv = preprint["doi"].split("arXiv.")[1]
    second = f"{', '.join(author_text(preprint['authors']))} {preprint['title']}. arXiv:{arxiv} ({preprint['year']})"
    return first, second


def flat(text: str) -> str:
    """Markdown block quotes and line breaks out of the way."""
    return " ".join(line.lstrip("> ").strip() for line in text.splitlines()).replace("  ", " ")


# ---------------------------------------------------------------------------- CMake metadata
def test_repository_is_this_projects_own_slicer_prefixed_one():
    url = repository_url()
    host, owner, name = urlsplit(url).netloc, *urlsplit(url).path.strip("/").split("/")
    assert host == "github.com" and owner
    assert name == "Slicer" + cmake_project() == "SlicerSALTSegmentation"
    assert not re.search(r"/SlicerSALT(?![A-Za-z])", CMAKE.read_text())  # no URL of the SlicerSALT application
    assert cmake_variables()["EXTENSION_HOMEPAGE"] == "${EXTENSION_REPOSITORY_URL}"


def test_icon_and_screenshots_are_readable_by_the_index_check_and_lie_in_this_repository():
    text = CMAKE.read_text()
    icons = re.findall(INDEX_ICON_PATTERN, text, re.IGNORECASE | re.MULTILINE)
    screenshots = re.findall(INDEX_SCREENSHOTS_PATTERN, text, re.IGNORECASE | re.MULTILINE)
    assert len(icons) == 1 and len(screenshots) == 1
    urls = [icons[0].strip(), *screenshots[0].split()]
    for url in urls:
        assert url.startswith(raw_base()), url  # on the one base URL, spelled out for the check
        path = REPO / url[len(raw_base()):]
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path  # a PNG in the repo


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_cmake_evaluates_the_metadata_and_refuses_urls_outside_the_repository(tmp_path):
    text = CMAKE.read_text()
    block = text[text.index("# Extension meta-information"):text.index("set(EXTENSION_BUILD_SUBDIRECTORY")]
    script = tmp_path / "metadata.cmake"
    script.write_text(block + 'message(STATUS "homepage=${EXTENSION_HOMEPAGE}")\n'
                      'message(STATUS "raw=${EXTENSION_RAW_URL}")\n')
    result = subprocess.run(["cmake", "-P", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"homepage={repository_url()}\n" in result.stdout
    assert f"raw={raw_base().rstrip('/')}\n" in result.stdout
    moved = block.replace(raw_base() + "Resources/Screenshots", "https://raw.githubusercontent.com/x/y/main/S")
    assert moved != block
    script.write_text(moved)
    result = subprocess.run(["cmake", "-P", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "is not in this project's repository" in " ".join(result.stderr.split())


def test_description_says_what_the_extension_does_and_cites_salt():
    description = cmake_variables()["EXTENSION_DESCRIPTION"]
    assert "Becker S.S., Baldini G., Schmidt C.S., et al., Sci Rep 15, 44140 (2025)" in description
    assert "doi:10.1038/s41598-025-31639-1" in description and "label tree" in description


# ---------------------------------------------------------------------------- the index entry
def test_description_file_validates_against_the_index_schema_and_matches_cmake():
    raw = DESCRIPTION.read_bytes()
    assert b"\r" not in raw and raw.endswith(b"\n")  # the index's check wants LF line endings
    entry = json.loads(raw)
    jsonschema.validate(entry, json.loads(INDEX_SCHEMA.read_text()))
    assert entry["$schema"] == INDEX_SCHEMA_URL
    variables = cmake_variables()
    assert DESCRIPTION.stem == cmake_project() and not DESCRIPTION.stem.lower().startswith("slicer")
    assert entry["scm_url"].removesuffix(".git") == repository_url()
    repository = Path(urlsplit(entry["scm_url"]).path).stem
    assert repository.startswith(INDEX_REPOSITORY_PREFIXES) and repository != "SlicerSALT"
    assert entry["scm_revision"] == "main"
    assert entry["category"] == variables["EXTENSION_CATEGORY"] == "Segmentation"
    assert entry["build_dependencies"] == variables["EXTENSION_DEPENDS"].split() == ["PyTorch"]
    assert entry["tier"] == 1 and entry["build_subdirectory"] == "."


def test_a_wrong_entry_is_refused_by_the_schema():
    schema = json.loads(INDEX_SCHEMA.read_text())
    entry = json.loads(DESCRIPTION.read_text())
    for change in ({"tier": 7}, {"scm_url": None}, {"homepage": "https://example.org"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**entry, **change}, schema)


# ---------------------------------------------------------------------------- CITATION.cff
def test_citation_file_cites_salt_with_its_authors_and_dois():
    cff = citation()
    jsonschema.validate(cff, CFF_SCHEMA)
    assert cff["repository-code"] == repository_url()
    sci_rep, preprint = cff["references"]
    assert cff["preferred-citation"] == sci_rep
    assert author_text(sci_rep["authors"]) == SCI_REP_AUTHORS
    assert (sci_rep["doi"], sci_rep["journal"], sci_rep["volume"], sci_rep["start"], sci_rep["year"]) == (
        "10.1038/s41598-025-31639-1", "Scientific Reports", 15, 44140, 2025)
    assert sci_rep["title"] == ("SALT: Introducing a framework for hierarchical segmentations in medical "
                                "imaging using label trees")
    assert author_text(preprint["authors"]) == PREPRINT_AUTHORS
    assert (preprint["doi"], preprint["year"]) == ("10.48550/arXiv.2407.08878", 2024)
    assert preprint["title"] == ("SALT: Introducing a Framework for Hierarchical Segmentations in Medical "
                                 "Imaging using Softmax for Arbitrary Label Trees")
    assert "Koitka S. and Baldini G. contributed equally" in preprint["notes"]


def test_one_citation_text_in_readme_catalogue_and_module():
    sci_rep, preprint = citation_texts()
    readme = flat((REPO / "README.md").read_text(encoding="utf-8"))
    assert sci_rep in readme and preprint in readme
    catalogue = json.loads((REPO / "SALTSegmentation" / "saltseg" / "resources" / "models.json").read_text())
    for model in catalogue["models"]:
        assert model["citation"] == f"{sci_rep}. Preprint: {preprint} (Koitka S. and Baldini G. contributed equally)."
    install_scripted_module_shim()
    import SALTSegmentation

    parent = type("Parent", (), {})()
    SALTSegmentation.SALTSegmentation(parent)
    assert sci_rep in parent.acknowledgementText and preprint in parent.acknowledgementText
    assert f"href='{repository_url()}'" in parent.helpText


def test_the_wrong_author_list_is_gone_everywhere():
    files = [REPO / "README.md", CMAKE, CITATION, REPO / "SALTSegmentation" / "SALTSegmentation.py",
             REPO / "SALTSegmentation" / "saltseg" / "resources" / "models.json"]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not [name for name in WRONG_AUTHORS if name in text], path
