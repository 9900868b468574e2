"""Render GNNDelete's edge-unlearning table from grid runs, with the reference code beside it.

    python benchmarks/gnndelete_table.py benchmarks/results/gnndelete_gcn_cora.json \\
        benchmarks/results/gnndelete_gcn_citeseer.json > benchmarks/results/gnndelete_gcn_table.md
    python benchmarks/gnndelete_table.py benchmarks/results/gnndelete_protocol_cora_005.json \\
        > benchmarks/results/gnndelete_protocol_table.md

Our rows are read from the JSON written by `gnn-unlearn benchmark`. Each Df measure has its own
column: the library's (deleted edges vs sampled non-edges) and GNNDelete's (deleted edges vs
retained training edges, mean of 500 draws). The reference rows are the original GNNDelete
code's measurements on Planetoid Cora (seed 42, 2 CPU cores, Df = 0.5 % of training edges,
|Df| = 23), as recorded in ../shared/methods/gnndelete.md; they are quoted, not measured here,
and are printed only beside blocks run with the reference code's "in"/"out" region
(`--region gnndelete`) and feature normalisation, in the GNNDelete-protocol column only.
"""
import argparse

from gnn_unlearn.bench import read_grid_run

# (GNN, where, model) -> (Dt AUROC, Df AUC in GNNDelete's protocol, wall seconds incl. start-up)
REFERENCE_CODE_CORA_0_5 = {
    ("gcn", "out", "retrain"): (0.910, 0.898, 90),
    ("gcn", "out", "gradient_ascent"): (0.897, 0.908, 15),
    ("gcn", "out", "gnndelete"): (0.843, 0.888, 122),
    ("gcn", "in", "retrain"): (0.917, 0.663, 92),
    ("gcn", "in", "gradient_ascent"): (0.878, 0.783, 16),
    ("gcn", "in", "gnndelete"): (0.796, 0.834, 128),
    ("gat", "in", "retrain"): (0.907, 0.632, 107),
    ("gat", "in", "gnndelete"): (0.805, 0.834, 126),
}
COLS = ("dt_auroc", "df_auroc", "df_auc_gnndelete", "mi_ratio", "mia_df_member", "mia_auc", "seconds",
        "speedup")
HEAD = ("Dt AUROC", "Df AUROC (library)", "|library Df - retrain's|", "Df AUC (GNNDelete)",
        "|GNNDelete Df - retrain's|", "MI ratio", "MIA Df member", "MIA AUC", "seconds", "speed-up")


def cell(row, key):
    if key not in row:
        return "-"
    if key == "speedup":
        return f"{row[key]:.1f}x"
    if key == "seconds":
        return f"{row[key]:.2f} ± {row[key + '_std']:.2f}"
    return f"{row[key]:.3f} ± {row[key + '_std']:.3f}"


def gap(row, ref, key):
    if ref is None or key not in row or key not in ref or row is ref:
        return "-"
    return f"{abs(row[key] - ref[key]):.3f}"


def spread_problem(block: dict) -> str | None:
    """What this table prints beyond a grid block (:func:`~gnn_unlearn.bench.read_grid_run`):
    each measure's standard deviation beside its mean."""
    for r in block["rows"]:
        missing = [k + "_std" for k in COLS if k in r and k != "speedup" and k + "_std" not in r]
        if missing:
            return f"has no {missing[0]!r} in row {r['model']!r}"
    return None


def load_runs(paths: list[str]) -> list[dict]:
    """The grid runs in ``paths``, checked by :func:`~gnn_unlearn.bench.read_grid_run` and
    :func:`spread_problem`, each with the hardware and protocols the table names."""
    runs = []
    for path in paths:
        run = read_grid_run(path, spread_problem)
        if "hardware" not in run or not isinstance(run.get("protocols", {}), dict):
            raise ValueError(f"{path} has no hardware or protocols of a gnn-unlearn benchmark run")
        runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="JSON files written by gnn-unlearn benchmark")
    a = p.parse_args(argv)
    try:                                    # refuse every file before anything is printed
        runs = load_runs(a.runs)
    except ValueError as e:
        p.error(str(e))
    for run in runs:
        print(f"Command: `{run['command']}`  \nHardware: {run['hardware']}\n")
    print("| dataset | GNN | Df | where (region) | features | model | " + " | ".join(HEAD) + " |")
    print("|---" * (6 + len(HEAD)) + "|")
    for run in runs:
        for b in run["blocks"]:
            rows = {r["model"]: r for r in b["rows"]}
            ref = rows.get("retrain")
            region, feats = b.get("region", "library"), b.get("features", "as loaded")
            lead = f"| {b['dataset']} | {b['encoder']} | {b['df_size']:g} | {b['where']} ({region}) | {feats} |"
            for name, r in rows.items():
                reference = name == "original"
                cells = [cell(r, "dt_auroc"), cell(r, "df_auroc"), "-" if reference else gap(r, ref, "df_auroc"),
                         cell(r, "df_auc_gnndelete"), "-" if reference else gap(r, ref, "df_auc_gnndelete"),
                         *(cell(r, k) for k in COLS[3:])]
                print(f"{lead} {name} (n={r['n']}) | " + " | ".join(cells) + " |")
                quoted = REFERENCE_CODE_CORA_0_5.get((b["encoder"], b["where"], name))
                if (quoted and b["dataset"] == "Cora" and b["df_size"] == 0.005 and region == "gnndelete"
                        and feats == "row-normalised"):
                    print(f"{lead} *{name}, reference code (quoted, 1 seed)* | {quoted[0]:.3f} | - | - | "
                          f"{quoted[1]:.3f} | - | - | - | - | {quoted[2]} | - |")
    print()
    protocols = runs[0].get("protocols", {})
    for key, text in protocols.items():
        print(f"- {key}: {text}")


if __name__ == "__main__":
    main()
