"""Print the import graph between plantctl's parts (the layers of the import-linter contract), drawn by grimp.

    .venv/bin/python scripts/import_graph.py            # edges "importer -> imported  (n imports)"
    .venv/bin/python scripts/import_graph.py --dot      # the same as Graphviz dot
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import grimp

PACKAGES = ("plantctl", "connectors", "control", "api", "sim")
# The parts drawn as one node each, most specific first; any other module is drawn as its top-level package.
PARTS = ("plantctl.runtime.bus", "plantctl.runtime.assemble", "plantctl.runtime", "plantctl.config",
         "plantctl.historian", "plantctl.alarms", "plantctl.audit", "plantctl.db", "plantctl.tools",
         "plantctl.cli", "plantctl.serve", "plantctl.samples", "plantctl.quality", "plantctl.writes",
         "plantctl.paths", "plantctl.logs", "plantctl.clock", "plantctl.durable", "plantctl.reports", "plantctl.notify",
         "sim", "api", "control", "connectors", "plantctl")


def part(module: str) -> str:
    for p in PARTS:
        if module == p or module.startswith(p + "."):
            return p
    return module.split(".")[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dot", action="store_true", help="print Graphviz dot instead of a list")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    edges: Counter[tuple[str, str]] = Counter()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = part(importer), part(imported)
            if a != b:
                edges[(a, b)] += 1
    if args.dot:
        print("digraph plantctl {")
        for (a, b), n in sorted(edges.items()):
            print(f'  "{a}" -> "{b}" [label={n}];')
        print("}")
        return
    for (a, b), n in sorted(edges.items()):
        print(f"{a:28s} -> {b:28s} ({n})")


if __name__ == "__main__":
    main()
