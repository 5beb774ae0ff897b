"""The README's Python snippets run and print what the README says they print."""

import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"snippet{i}" for i in range(len(BLOCKS))])
def test_readme_snippet(block):
    expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    result = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == " ".join(expected).split()
