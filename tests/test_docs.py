"""The docs are self-contained: every link between them resolves, and none points outside the repository."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OUTSIDE = "DESIGN" + ".md"  # a contract this repository does not hold


def test_every_relative_link_of_the_docs_resolves():
    broken = [f"{doc.relative_to(ROOT)}: {target}" for doc in DOCS
              for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text("utf-8"))
              if not re.match(r"[a-z]+://", target) and not (doc.parent / target).exists()]
    assert broken == []


def test_no_tracked_file_points_at_a_document_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    pointing = [name for name in tracked if (ROOT / name).is_file() and name != "tests/test_docs.py"
                and OUTSIDE in (ROOT / name).read_text("utf-8", errors="replace")]
    assert pointing == []
