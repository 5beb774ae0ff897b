"""The repository's text names no file that does not exist.

Scans the package source, the documentation, the README, the benchmarks and
the tests for repository paths (``benchmarks/x.py``, ``tests/x.py``,
``skmoe/x.py``, ``skmoe/x/``, ``docs/x.md``, ``examples/x.py``) and fails
listing those that are missing, with where they are named.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: A path starts at one of these top-level directories, not inside a longer
#: name (``my_tests/a.py``, ``a.b/tests/a.py``); build outputs under ``docs/``
#: are listed in ``GENERATED``.
PATH_RE = re.compile(
    r"(?<![\w./-])"
    r"((?:benchmarks|tests|skmoe|docs|examples)/(?:[\w.-]+/)*"
    r"(?:[\w-]+\.(?:py|md|R|txt|toml|cfg|rst)|[\w-]+/))"
)
#: Directories created by builds, not in the repository.
GENERATED = ("docs/_build/", "docs/auto_examples/", "docs/generated/", "docs/api/generated/")
#: Placeholder names in prose (``python benchmarks/bench_x.py``), not files.
PLACEHOLDER_RE = re.compile(r"(?:^|/|_)(?:x|xxx|name)(?:\.\w+|/)$")
#: Files scanned (globs relative to the repository root), in groups.
SCANNED = {
    "package": ("skmoe/**/*.py",),
    "docs": ("docs/**/*.md", "docs/**/*.py", "docs/**/*.rst", "README.md"),
    "benchmarks": ("benchmarks/README.md", "benchmarks/*.py"),
    "tests": ("tests/**/*.py",),
}


def _scanned_files(patterns):
    seen = set()
    for pattern in patterns:
        for path in sorted(REPO.glob(pattern)):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(GENERATED) or rel in seen or not path.is_file():
                continue
            seen.add(rel)
            yield path


def referenced_paths(text):
    """Repository paths named in ``text`` (``[(line number, path)]``)."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        for match in PATH_RE.finditer(line):
            out.append((number, match.group(1)))
    return out


def test_path_pattern():
    text = (
        "see `benchmarks/bench_em.py`, tests/test_a.py and skmoe/_experts/ or "
        "docs/user_guide.md; not my_tests/a.py nor x.tests/b.py; examples/plot_a.py."
    )
    assert [p for _, p in referenced_paths(text)] == [
        "benchmarks/bench_em.py",
        "tests/test_a.py",
        "skmoe/_experts/",
        "docs/user_guide.md",
        "examples/plot_a.py",
    ]
    assert PLACEHOLDER_RE.search("benchmarks/bench_x.py")
    assert not PLACEHOLDER_RE.search("benchmarks/bench_em.py")


@pytest.mark.parametrize("group", sorted(SCANNED))
def test_referenced_paths_exist(group):
    missing = []
    for path in _scanned_files(SCANNED[group]):
        rel = path.relative_to(REPO).as_posix()
        if rel == "tests/test_repository.py":
            continue  # its own examples above
        text = path.read_text(encoding="utf-8")
        for number, ref in referenced_paths(text):
            if ref.startswith(GENERATED) or PLACEHOLDER_RE.search(ref):
                continue
            if not (REPO / ref).exists():
                missing.append(f"{rel}:{number}: {ref}")
    assert not missing, "references to files that do not exist:\n" + "\n".join(missing)
