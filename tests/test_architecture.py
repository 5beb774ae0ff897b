"""Architecture of the package: no import cycles, no dynamic imports, size limits.

Static checks on the source of ``skmoe/`` (``ast`` only; nothing is imported):

* The import graph of the package's modules has no cycle. Module-level and
  function-level imports both count; relative imports are resolved; an edge
  points to the module named (``from ._solvers._em import x`` ->
  ``skmoe._solvers._em``; ``from . import _kernels`` -> ``skmoe._kernels``;
  ``from ._experts import X`` -> ``skmoe._experts``, the package
  ``__init__``), not to its package's ``__init__``; a package ``__init__``
  importing its submodules is an edge like any other. Only edges between
  skmoe's own modules matter.
* No ``importlib`` and no ``__import__``: every dependency is visible to the
  graph above.
* Size: no module over ``MAX_MODULE_LINES`` lines (``_kernels.py`` excepted),
  ``_base.py`` at most ``MAX_BASE_LINES``, no function with more than
  ``MAX_FUNCTION_LINES`` body lines (non-blank, non-comment lines after the
  docstring), except the EM loop ``run_em`` (no jitted kernel of
  ``_kernels.py`` is that long, so none is exempt).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = "skmoe"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

MAX_MODULE_LINES = 600
MAX_BASE_LINES = 400
MAX_FUNCTION_LINES = 70
#: modules exempt from the module size limit
LONG_MODULES = {"skmoe._kernels"}
#: (module, function) exempt from the function size limit
LONG_FUNCTIONS = {("skmoe._solvers._em", "run_em")}


def _modules():
    """``{dotted name: path}`` of every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name):
    return MODULES[name].name == "__init__.py"


def _parse(name):
    return ast.parse(MODULES[name].read_text(encoding="utf-8"), filename=str(MODULES[name]))


def _resolve(module, level, name):
    """Absolute name of ``from <level dots><name> import ...`` inside ``module``."""
    if level == 0:
        return name
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]  # a plain module's relative imports start at its package
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _targets(module, node):
    """The modules an ``Import`` / ``ImportFrom`` node names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    target = _resolve(module, node.level, node.module)
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        # ``from . import _kernels`` names the submodule; ``from ._experts
        # import GaussianExperts`` names the package (its ``__init__``)
        out.append(sub if sub in MODULES else target)
    return out


def import_graph():
    """``{module: {imported skmoe module: first line}}`` over module and function imports."""
    graph = {}
    for module in MODULES:
        edges = {}
        for node in ast.walk(_parse(module)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, node):
                    # ``import skmoe._a._b`` names skmoe._a._b; an unknown
                    # name (``from .x import y`` of a missing x) is kept as is
                    if target == PACKAGE or target.startswith(PACKAGE + "."):
                        if target != module:
                            edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def find_cycles(graph):
    """The strongly connected components with more than one module (or a self-loop)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def _describe(component, graph):
    members = set(component)
    edges = [
        f"    {a} -> {b} (line {graph[a][b]})"
        for a in component
        for b in sorted(graph[a])
        if b in members
    ]
    return " <-> ".join(component) + "\n" + "\n".join(edges)


# -- the tests of the resolution rules themselves -----------------------------------------


def test_relative_imports_resolve_to_the_module_named():
    assert _resolve("skmoe._solvers._em", 2, "_data") == "skmoe._data"
    assert _resolve("skmoe._base", 1, "_solvers._em") == "skmoe._solvers._em"
    assert _resolve("skmoe._experts", 1, "_gaussian") == "skmoe._experts._gaussian"
    assert _resolve("skmoe", 1, "_base") == "skmoe._base"
    node = ast.parse("from . import _kernels").body[0]
    assert _targets("skmoe._softmax", node) == ["skmoe._kernels"]
    node = ast.parse("from ._experts import GaussianExperts").body[0]
    assert _targets("skmoe._base", node) == ["skmoe._experts"]
    node = ast.parse("from ._solvers._em import run_em").body[0]
    assert _targets("skmoe._base", node) == ["skmoe._solvers._em"]


def test_cycle_finder():
    assert find_cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {}}) == []
    assert find_cycles({"a": {"b": 1}, "b": {"a": 1}, "c": {"a": 1}}) == [["a", "b"]]


# -- the package ------------------------------------------------------------------------


def test_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in skmoe/ (module- and function-level imports):\n" + (
        "\n".join(_describe(c, graph) for c in cycles)
    )


def test_no_dynamic_imports():
    found = []
    for module in MODULES:
        for node in ast.walk(_parse(module)):
            if isinstance(node, ast.Import) and any(
                a.name == "importlib" or a.name.startswith("importlib.") for a in node.names
            ):
                found.append(f"{module}:{node.lineno}: import importlib")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (
                node.module == "importlib" or (node.module or "").startswith("importlib.")
            ):
                found.append(f"{module}:{node.lineno}: from {node.module} import ...")
            elif isinstance(node, ast.Name) and node.id == "__import__":
                found.append(f"{module}:{node.lineno}: __import__")
            elif isinstance(node, ast.Attribute) and node.attr == "__import__":
                found.append(f"{module}:{node.lineno}: .__import__")
    assert not found, "dynamic imports hide dependencies from the import graph:\n" + "\n".join(
        found
    )


def _line_count(name):
    return len(MODULES[name].read_text(encoding="utf-8").splitlines())


def test_module_sizes():
    too_long = [
        f"{MODULES[m].relative_to(ROOT.parent)}: {_line_count(m)} lines (limit {MAX_MODULE_LINES})"
        for m in sorted(MODULES)
        if m not in LONG_MODULES and _line_count(m) > MAX_MODULE_LINES
    ]
    assert not too_long, "modules over the size limit:\n" + "\n".join(too_long)


def test_base_module_size():
    n = _line_count("skmoe._base")
    assert n <= MAX_BASE_LINES, f"skmoe/_base.py has {n} lines (limit {MAX_BASE_LINES})"


def _body_lines(func, source_lines):
    """Non-blank, non-comment lines of a function's body after its docstring."""
    body = func.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if not body:
        return 0
    start, stop = body[0].lineno, func.end_lineno
    lines = source_lines[start - 1 : stop]
    return sum(1 for line in lines if line.strip() and not line.strip().startswith("#"))


def _walk_functions(node, prefix, module, source_lines, out):
    """Add ``(module, qualified name, body lines)`` of over-long functions under ``node``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            qual = prefix + child.name
            n = _body_lines(child, source_lines)
            exempt = (module, child.name) in LONG_FUNCTIONS
            if n > MAX_FUNCTION_LINES and not exempt:
                out.append((module, qual, n))
            _walk_functions(child, qual + ".", module, source_lines, out)
        elif isinstance(child, ast.ClassDef):
            _walk_functions(child, prefix + child.name + ".", module, source_lines, out)


def long_functions():
    """``[(module, qualified name, body lines)]`` of the functions over the limit."""
    out = []
    for module in sorted(MODULES):
        source_lines = MODULES[module].read_text(encoding="utf-8").splitlines()
        _walk_functions(_parse(module), "", module, source_lines, out)
    return out


def test_function_sizes():
    found = [
        f"{MODULES[m].relative_to(ROOT.parent)}: {q}: {n} body lines"
        for m, q, n in long_functions()
    ]
    assert not found, (
        f"functions over {MAX_FUNCTION_LINES} body lines (non-blank, non-comment, after the "
        "docstring):\n" + "\n".join(found)
    )


@pytest.mark.parametrize("name", ["skmoe._solvers._em", "skmoe._kernels"])
def test_exempt_modules_exist(name):
    # the exemptions above name real modules (a rename must update them)
    assert name in MODULES
