"""The Python snippets of the README and docs/ run and print what they say they print."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS, IDS = [], []
for doc in DOCUMENTS:
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)):
        BLOCKS.append(block)
        IDS.append(f"{doc.stem}-{i}")


@pytest.mark.parametrize("block", BLOCKS, ids=IDS)
def test_readme_snippet(block):
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    result = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == " ".join(expected).split()
