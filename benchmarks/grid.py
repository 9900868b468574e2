"""Benchmark grid: datasets x encoders x methods x Df sizes x seeds -> results table (mean ± std).

    python benchmarks/grid.py --datasets Cora,CiteSeer --encoders gcn,gat,gin \
        --methods gradient_ascent --sizes 0.005,0.025,0.05 --wheres in,out --seeds 5

Same options as `gnn-unlearn benchmark --help`; results go to benchmarks/results/grid.{md,json}.
"""
import sys

from gnn_unlearn.cli import main

if __name__ == "__main__":
    sys.exit(main(["benchmark", *sys.argv[1:]]))
