"""The README's walk-through, run block by block against a live server prepared as `make run` prepares one,
its output compared with the output the README shows (`make walkthrough`).

Keys, pass codes, pseudonyms and times differ from run to run: both sides have them replaced by
placeholders before the comparison. Everything else (points, balances, tiers, quotas, statuses,
versions, the audit trail's rows) must be what the README says. Run as a script
(`python tests/test_walkthrough.py`) it prints the README with the outputs of a fresh run instead.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import Server, cli, database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- walkthrough:start -->", "<!-- walkthrough:end -->"
DELIMITER = "@@@ block {} @@@"
VOLATILE = [
    (re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?"), "<time>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<date>"),
    (re.compile(r"\bvb_(?:app|admin|partner)_[\w-]{43}\b"), "<key>"),
    (re.compile(r"\b[2-9A-HJ-NP-Z]{5}-[2-9A-HJ-NP-Z]{5}\b"), "<code>"),
    (re.compile(r"\bcr_[a-z2-7]{24}\b"), "<ref>"),
]


def blocks(text: str) -> list[tuple[str, str | None]]:
    """(shell commands, the output shown after them or None) for every ```sh block of the walk-through."""
    section = text.split(START, 1)[1].split(END, 1)[0]
    found = re.findall(r"```sh\n(.*?)```\n(?:```\n(.*?)```\n)?", section, re.DOTALL)
    return [(commands, output if output else None) for commands, output in found]


def normalised(output: str) -> str:
    for pattern, placeholder in VOLATILE:
        output = pattern.sub(placeholder, output)
    return output.strip()


def run(tmp_path: Path) -> list[str]:
    """The output of every block, run in one shell against a fresh server with the demo data."""
    with database("sqlite", tmp_path) as url:
        cli(url, "db", "upgrade")
        cli(url, "rules", "load", "--activate")
        exports = [line for line in cli(url, "demo").splitlines() if line.startswith("export ")]
        server = Server(url, tmp_path / "gunicorn.log")
        with server:
            script = [*exports, f"BASE=http://{server.address[0]}:{server.port}"]
            for number, (commands, _) in enumerate(blocks(README.read_text("utf-8"))):
                kept = [line for line in commands.splitlines() if "=..." not in line and not line.startswith("BASE=")]
                script += [f"echo '{DELIMITER.format(number)}'", *kept]
            done = subprocess.run(["bash", "-e", "-c", "\n".join(script)], cwd=ROOT, capture_output=True,
                                  text=True, timeout=300, env={**os.environ, "LC_ALL": "C.UTF-8"})
            assert done.returncode == 0, done.stderr[-3000:] + server.log_tail()
    outputs = re.split(r"@@@ block \d+ @@@\n", done.stdout)[1:]
    assert len(outputs) == len(blocks(README.read_text("utf-8")))
    return outputs


@pytest.mark.slow
def test_the_walkthrough_prints_what_the_readme_shows(tmp_path):
    shown = [output for _, output in blocks(README.read_text("utf-8"))]
    assert sum(output is not None for output in shown) >= 10
    for number, (expected, actual) in enumerate(zip(shown, run(tmp_path))):
        if expected is not None:
            assert normalised(actual) == normalised(expected), f"block {number} of the walk-through"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        outputs = run(Path(directory))
    text = README.read_text("utf-8")
    head, rest = text.split(START, 1)
    section, tail = rest.split(END, 1)
    pieces = iter(outputs)

    def fill(match: re.Match) -> str:
        output = next(pieces)
        return f"```sh\n{match.group(1)}```\n" + (f"```\n{output}```\n" if output.strip() else "")

    section = re.sub(r"```sh\n(.*?)```\n(?:```\n.*?```\n)?", fill, section, flags=re.DOTALL)
    print(head + START + section + END + tail, end="")
