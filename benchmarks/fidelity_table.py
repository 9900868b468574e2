"""Indistinguishability from retraining: checks grid runs against issue 15's targets.

    python benchmarks/fidelity_table.py benchmarks/results/fidelity_cora_citeseer.json \\
        > benchmarks/results/fidelity_table.md

Reads the JSON written by `gnn-unlearn benchmark` (means, standard deviations, minima and
maxima over seeds) and, for every method row, sets it beside the retrained model of the same
block (dataset, GNN, Df size, position):

* Dt: test AUROC, gap to retrain in points; target: within 2 points.
* Df AUROC (library protocol: deleted edges vs sampled non-edges); target: within 0.03 of
  retrain's mean.
* Df AUC (GNNDelete protocol, deletion identification: deleted vs retained training edges);
  target: within 0.05 of retrain's mean or inside retrain's range over the seeds.
* speed-up over retraining (same run); target at 0.5 %: at least 10x.

Attack columns of the run (relearn, probe, LiRA, ...) are printed as they are, beside
retrain's value. Every number is a mean over the seeds of the run; nothing is typed in.
"""
from __future__ import annotations

import json
import sys

def verdicts(row: dict, ref: dict, size: float) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    if "dt_auroc" in row:
        out["dt"] = abs(row["dt_auroc"] - ref["dt_auroc"]) <= 0.02
    if "df_auroc" in row:
        out["lib"] = abs(row["df_auroc"] - ref["df_auroc"]) <= 0.03
    if "df_auc_gnndelete" in row:
        v, k = row["df_auc_gnndelete"], "df_auc_gnndelete"
        out["gd"] = abs(v - ref[k]) <= 0.05 or ref.get(k + "_min", v) <= v <= ref.get(k + "_max", v)
    out["speed"] = (row.get("speedup", 0) >= 10) if size <= 0.005 else None
    return out


def mark(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def table(blocks: list[dict]) -> str:
    attack_cols: dict[str, str] = {}
    for b in blocks:
        attack_cols.update(b.get("attack_columns") or {})
    head = ["dataset", "GNN", "Df", "where", "model", "n", "Dt (gap pts)", "Df library (retrain)",
            "Df GNNDelete (retrain [min, max])", *attack_cols.values(), "speed-up",
            "Dt ok", "lib ok", "GNNDelete ok", ">=10x at 0.5 %"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    tally: dict[str, list[bool]] = {}
    for b in blocks:
        rows = {r["model"]: r for r in b["rows"]}
        ref = rows.get("retrain")
        if ref is None:
            continue
        for name, r in rows.items():
            if name in ("original", "retrain"):
                v = {}
            else:
                v = verdicts(r, ref, b["df_size"])
                for k, ok in v.items():
                    if ok is not None:
                        tally.setdefault(f"{name} {k}", []).append(ok)
            gd = r.get("df_auc_gnndelete", float("nan"))
            cells = [b["dataset"], b["encoder"], f"{b['df_size']:g}", b["where"], name, str(r.get("n", "")),
                     f"{r['dt_auroc']:.3f} ({100 * (r['dt_auroc'] - ref['dt_auroc']):+.1f})",
                     f"{r.get('df_auroc', float('nan')):.3f} ({ref.get('df_auroc', float('nan')):.3f})",
                     f"{gd:.3f} ({ref['df_auc_gnndelete']:.3f} [{ref.get('df_auc_gnndelete_min', float('nan')):.3f}, "
                     f"{ref.get('df_auc_gnndelete_max', float('nan')):.3f}])" if "df_auc_gnndelete" in ref else "-"]
            for k in attack_cols:
                cells.append(f"{r[k]:.3f}" if isinstance(r.get(k), (int, float)) else "-")
            cells.append(f"{r['speedup']:.1f}x" if isinstance(r.get("speedup"), (int, float)) else "-")
            cells += [mark(v.get("dt")), mark(v.get("lib")), mark(v.get("gd")), mark(v.get("speed"))]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Targets met (blocks passing / blocks):")
    lines.append("")
    for key in sorted(tally):
        oks = tally[key]
        lines.append(f"- {key}: {sum(oks)} / {len(oks)}")
    return "\n".join(lines)


def main(paths: list[str]) -> None:
    blocks, commands, hardware = [], [], set()
    for p in paths:
        with open(p) as f:
            run = json.load(f)
        blocks += run["blocks"]
        commands.append(run["command"])
        hardware.add(run.get("hardware", "?"))
    print("# Indistinguishability from retraining (issue 15 targets)\n")
    print("Rendered by `python benchmarks/fidelity_table.py " + " ".join(paths) + "` from:\n")
    for c in commands:
        print(f"- `{c}`")
    print(f"\nHardware: {'; '.join(sorted(hardware))}\n")
    print(__doc__.split("\n\n", 2)[2].strip() + "\n")
    print(table(blocks))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python benchmarks/fidelity_table.py RUN.json [RUN.json ...]")
    main(sys.argv[1:])
