"""Render GNNDelete's edge-unlearning table from a grid run, with the reference code beside it.

    python benchmarks/gnndelete_table.py benchmarks/results/gnndelete_gcn.json > benchmarks/results/gnndelete_gcn_table.md

Our rows are read from the JSON written by `gnn-unlearn benchmark`. The reference rows are the
original GNNDelete code's measurements on Planetoid Cora (seed 42, 2 CPU cores, Df = 0.5 % of
training edges, |Df| = 23), as recorded in ../shared/methods/gnndelete.md; they are quoted,
not measured here, and marked as such.
"""
import json
import sys

# (GNN, where, model) -> (Dt AUROC, Df AUROC, wall seconds incl. start-up); source: gnndelete.md
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
COLS = ("dt_auroc", "df_auroc", "mi_ratio", "mia_df_member", "mia_auc", "seconds", "speedup")
HEAD = ("Dt AUROC", "Df AUROC", "|Df - retrain Df|", "MI ratio", "MIA Df member", "MIA AUC", "seconds", "speed-up")


def cell(row, key):
    if key not in row:
        return "-"
    if key == "speedup":
        return f"{row[key]:.1f}x"
    if key == "seconds":
        return f"{row[key]:.2f} ± {row[key + '_std']:.2f}"
    return f"{row[key]:.3f} ± {row[key + '_std']:.3f}"


def main(path: str) -> None:
    run = json.load(open(path))
    print(f"Command: `{run['command']}`  \nHardware: {run['hardware']}\n")
    print("| dataset | GNN | Df | where | model | " + " | ".join(HEAD) + " |")
    print("|---" * (5 + len(HEAD)) + "|")
    for b in run["blocks"]:
        rows = {r["model"]: r for r in b["rows"]}
        ref_df = rows.get("retrain", {}).get("df_auroc")
        for name, r in rows.items():
            gap = f"{abs(r['df_auroc'] - ref_df):.3f}" if ref_df is not None and name != "original" else "-"
            cells = [cell(r, "dt_auroc"), cell(r, "df_auroc"), gap] + [cell(r, k) for k in COLS[2:]]
            print(f"| {b['dataset']} | {b['encoder']} | {b['df_size']:g} | {b['where']} | {name} (n={r['n']}) | "
                  + " | ".join(cells) + " |")
            ref = REFERENCE_CODE_CORA_0_5.get((b["encoder"], b["where"], name))
            if b["dataset"] == "Cora" and b["df_size"] == 0.005 and ref:
                print(f"| Cora | {b['encoder']} | 0.005 | {b['where']} | *{name}, reference code (quoted)* | "
                      f"{ref[0]:.3f} | {ref[1]:.3f} | - | - | - | - | {ref[2]} | - |")


if __name__ == "__main__":
    main(sys.argv[1])
