"""The reading stage's imports form no cycle (module level, function-level imports included).

A cycle is how a loading path stops being followable: ``dicom_scan`` needing
``series`` needing ``dicom_scan`` again.  grimp (import-linter's graph) counts
imports inside functions too; imports under ``if TYPE_CHECKING`` are left
out, since they never run (``model`` names ``StackPlan`` only for typing).
"""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "miss_imaging"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, exclude_type_checking_imports=True, cache_dir=None)


def test_cycle_finder_finds_a_cycle():
    g = grimp.ImportGraph()
    for m in ("p.a", "p.b", "p.c", "p.d"):
        g.add_module(m)
    g.add_import(importer="p.a", imported="p.b")
    g.add_import(importer="p.b", imported="p.c")
    g.add_import(importer="p.c", imported="p.a")
    g.add_import(importer="p.c", imported="p.d")
    assert _cycles(g) == [["p.a", "p.b", "p.c"]]


def test_reading_stage_has_no_import_cycle(graph):
    through_reading = [c for c in _cycles(graph) if any(m.startswith(f"{PACKAGE}.reading") for m in c)]
    assert not through_reading, f"import cycles through miss_imaging.reading: {through_reading}"


def test_scan_and_assembly_are_one_way(graph):
    # dicom_scan reads headers and calls assembly; assembly never reads files itself
    assert graph.direct_import_exists(importer="miss_imaging.reading.dicom_scan", imported="miss_imaging.reading.series")
    assert not graph.chain_exists(importer="miss_imaging.reading.series", imported="miss_imaging.reading.dicom_scan")
