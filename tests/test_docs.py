"""The documents: a short README that maps docs/, links that lead somewhere, the design inside the repository."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", *DOCS]
# Others link to these names (code comments, workflows, the issue that split README): keep them.
DOC_NAMES = {
    "design.md",
    "configuration.md",
    "api.md",
    "streaming.md",
    "scale-to-zero.md",
    "chat-ui.md",
    "operations.md",
    "ci.md",
    "development.md",
    "benchmarks.md",
    "local.md",
}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks, where a `#` line is a heading and `[x](y)` a link."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def _relative_links(document: Path) -> list[str]:
    links = LINK.findall(_prose(document.read_text()))
    return [link for link in links if not re.match(r"[a-z]+:", link)]


def _anchors(document: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", _prose(document.read_text()), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_readme_is_a_short_front_door():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_docs_holds_each_named_document_and_readme_links_every_one():
    assert {doc.name for doc in DOCS} >= DOC_NAMES
    readme_links = {link.split("#")[0] for link in _relative_links(ROOT / "README.md")}
    assert {f"docs/{name}" for name in DOC_NAMES} <= readme_links


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_that_exists(document):
    broken = [
        link
        for link in _relative_links(document)
        if link.split("#")[0] and not (document.parent / link.split("#")[0]).exists()
    ]
    assert broken == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_to_a_heading_finds_that_heading(document):
    broken = []
    for link in _relative_links(document):
        path, _, anchor = link.partition("#")
        target = (document.parent / path) if path else document
        if anchor and target.suffix == ".md" and target.exists() and anchor not in _anchors(target):
            broken.append(link)
    assert broken == []


def test_no_file_refers_to_a_design_document_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files", "*.py", "*.md", "*.sh", "*.yml", "*.yaml", "*.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    this_test = Path(__file__).relative_to(ROOT).as_posix()
    referring = [
        name
        for name in tracked
        if name != this_test and re.search(r"\b(DESIGN|FACTS|STYLE)\.md", (ROOT / name).read_text(errors="replace"))
    ]
    assert referring == [], "the design is docs/design.md"


def _outputs_table(document: Path, heading: str) -> set[str]:
    """The output names in the first column of the table under `heading` (`a`, `b` in one cell count as two)."""
    section = _prose(document.read_text()).split(heading, 1)[1]
    section = re.split(r"^#{1,6} ", section, maxsplit=1, flags=re.MULTILINE)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"`([A-Za-z]+)`", cell)}


@pytest.mark.parametrize(
    ("document", "heading"), [("README.md", "## Outputs"), ("docs/design.md", "### Stack outputs")]
)
def test_the_outputs_tables_name_exactly_what_the_program_exports(cached_run, stack_config, document, heading):
    # The dev stack exports every output there is: the UI's, scaleToZero's inference component, the dashboard.
    exported = set(cached_run(stack_config("dev")).outputs)
    assert _outputs_table(ROOT / document, heading) == exported
