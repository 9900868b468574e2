"""The package's import graph: no circles, and layers point one way.

Every ``import`` statement counts, also the ones inside functions (a lazy import hides a
circle from the interpreter, not from the design).
"""
import ast
import os.path as osp
import pkgutil

import gnn_unlearn

ROOT = osp.dirname(gnn_unlearn.__file__)
# A lower layer may never import a higher one
# (ops <- data/models <- training/metrics <- methods <- evaluation/experiment <- bench/cli).
FORBIDDEN = {
    "gnn_unlearn.ops": ("gnn_unlearn.data", "gnn_unlearn.models", "gnn_unlearn.training",
                        "gnn_unlearn.metrics", "gnn_unlearn.methods", "gnn_unlearn.cli"),
    "gnn_unlearn.models": ("gnn_unlearn.training", "gnn_unlearn.metrics", "gnn_unlearn.methods",
                           "gnn_unlearn.cli"),
    "gnn_unlearn.data": ("gnn_unlearn.models", "gnn_unlearn.training", "gnn_unlearn.metrics",
                         "gnn_unlearn.methods", "gnn_unlearn.cli"),
    "gnn_unlearn.training": ("gnn_unlearn.methods", "gnn_unlearn.evaluation", "gnn_unlearn.cli"),
    # metrics score models; running methods (evaluate's retrains) is gnn_unlearn.evaluation's job
    "gnn_unlearn.metrics": ("gnn_unlearn.methods", "gnn_unlearn.evaluation", "gnn_unlearn.forget_search",
                            "gnn_unlearn.experiment", "gnn_unlearn.bench", "gnn_unlearn.cli"),
    "gnn_unlearn.methods": ("gnn_unlearn.evaluation", "gnn_unlearn.forget_search", "gnn_unlearn.experiment",
                            "gnn_unlearn.bench", "gnn_unlearn.cli"),
}


def _modules() -> dict[str, str]:
    out = {"gnn_unlearn": osp.join(ROOT, "__init__.py")}
    for info in pkgutil.walk_packages([ROOT], prefix="gnn_unlearn."):
        path = osp.join(ROOT, *info.name.split(".")[1:])
        out[info.name] = osp.join(path, "__init__.py") if info.ispkg else path + ".py"
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in its body)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(open(path).read(), path)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from pkg import sub`` imports the module pkg.sub when it exists
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                           else node.module for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1
        stack.append(root); on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop(); on_stack.discard(m); comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
            elif nxt not in index:
                index[nxt] = low[nxt] = counter[0]; counter[0] += 1
                stack.append(nxt); on_stack.add(nxt)
                work.append((nxt, iter(sorted(graph[nxt]))))
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
    return out


def test_cycle_finder_finds_a_planted_circle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_package_has_no_import_circle():
    found = cycles(import_graph())
    assert not found, f"import circles: {found}"


def test_layers_point_one_way():
    graph = import_graph()
    bad = [(m, t) for m, targets in graph.items() for t in targets
           for low, high in FORBIDDEN.items()
           if (m == low or m.startswith(low + ".")) and any(t == h or t.startswith(h + ".") for h in high)]
    assert not bad, f"lower layers importing higher ones: {bad}"
