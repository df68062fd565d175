"""``miss-imaging batch deidentify SRC OUT`` and ``miss-imaging batch index SRC OUT.sqlite``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``batch`` command (with ``deidentify`` and ``index``) to the main parser's subparsers."""
    b = sub.add_parser("batch", help="de-identify or index a whole archive on dask.distributed (resumable)")
    bsub = b.add_subparsers(dest="batch_command", required=True)
    d = bsub.add_parser("deidentify", help="de-identify every study under SRC into OUT (rerun: only missing work)")
    d.add_argument("src")
    d.add_argument("out")
    i = bsub.add_parser("index", help="one SQLite row per series under SRC (no patient identity)")
    i.add_argument("src")
    i.add_argument("out", metavar="OUT.sqlite")
    for p in (d, i):
        p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="a running dask scheduler (tcp://host:8786); default: a local cluster")
        p.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes of the local cluster (default: one per CPU)")
        p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the parsed ``batch`` command; exit status 0, or 3 when some studies failed."""
    from miss_imaging.batch.run import deidentify_tree, index_tree

    if args.workers is not None and args.workers < 1:
        print("miss-imaging batch: --workers must be >= 1", file=sys.stderr)
        return 2
    fn = deidentify_tree if args.batch_command == "deidentify" else index_tree
    try:
        report = fn(args.src, args.out, scheduler=args.scheduler, workers=args.workers, progress=args.progress)
    except (ValueError, ImportError) as exc:  # OUT inside SRC, other options, a damaged key, no distributed
        print(f"miss-imaging batch {args.batch_command}: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 3 if report.studies_error else 0
