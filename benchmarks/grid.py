"""Benchmark grid: datasets x encoders x methods x Df sizes x seeds -> results table (mean ± std).

    python benchmarks/grid.py --datasets Cora,CiteSeer --encoders gcn,gat,gin \
        --methods gradient_ascent --sizes 0.005,0.025,0.05 --wheres in,out --seeds 5

Same options as `gnn-unlearn benchmark --help`; results go to benchmarks/results/grid.{md,json}.
"""
from __future__ import annotations

import sys

from gnn_unlearn.cli import main as cli_main


def main(argv: list[str] | None = None) -> None:
    """``gnn-unlearn benchmark`` with ``argv`` (default: this script's arguments); it refuses bad
    options before any training (:func:`gnn_unlearn.bench.check_grid`) and exits with 2."""
    sys.exit(cli_main(["benchmark", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    main()
