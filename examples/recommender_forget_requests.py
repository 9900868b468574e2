"""Serve "forget these interactions" requests on a LightGCN recommender, one after another, audited.

For recommender engineers: users ask to forget some of what they listened to (a CSV of
``user,item`` pairs in the dataset's own IDs), later a user asks to be forgotten entirely.
Each request is served on the checkpoint the previous one produced, and every deletion is
appended to a hash-chained ledger that ``gnn-unlearn audit`` verifies. The same as shell::

    export GNN_UNLEARN_MIRROR=../shared/datasets
    gnn-unlearn train --dataset lastfm --task rec --epochs 20 --output model.pt
    gnn-unlearn unlearn --checkpoint model.pt --request forget.csv --method reverse_bpr \\
        --params '{"epochs": 20}' --output step1.pt --ledger deletions.jsonl
    gnn-unlearn unlearn --checkpoint step1.pt --request forget_user.csv --request-kind users \\
        --method reverse_bpr --params '{"epochs": 20}' --output step2.pt --ledger deletions.jsonl
    gnn-unlearn audit deletions.jsonl

Run (about a minute on a laptop CPU)::

    GNN_UNLEARN_MIRROR=../shared/datasets python examples/recommender_forget_requests.py [WORKDIR]
"""
import os
import sys

from gnn_unlearn.cli import main


def run(*argv: str) -> None:
    print("\n$ gnn-unlearn " + " ".join(argv), flush=True)
    code = main(list(argv))
    if code:
        sys.exit(code)


def forget_csv(path: str, train_file: str, user: int, count: int) -> None:
    """A request as a product would send it: the first ``count`` items ``user`` listened to."""
    with open(train_file) as f:
        for line in f:
            ids = line.split()
            if int(ids[0]) == user:
                items = ids[1:1 + count]
                break
        else:
            raise SystemExit(f"user {user} is not in {train_file}")
    with open(path, "w") as f:
        f.write("user,item\n" + "".join(f"{user},{i}\n" for i in items))


def main_example(workdir: str, epochs: int = 20) -> None:
    mirror = os.environ.get("GNN_UNLEARN_MIRROR")
    if not mirror:
        raise SystemExit("set GNN_UNLEARN_MIRROR to the folder of raw dataset files (../shared/datasets)")
    os.makedirs(workdir, exist_ok=True)
    p = lambda name: os.path.join(workdir, name)        # noqa: E731
    forget_csv(p("forget.csv"), os.path.join(mirror, "lastfm", "train.txt"), user=42, count=5)
    with open(p("forget_user.csv"), "w") as f:
        f.write("user\n7\n")
    method = ["--method", "reverse_bpr", "--params", f'{{"epochs": {epochs}}}']
    run("train", "--dataset", "lastfm", "--task", "rec", "--epochs", str(epochs), "--output", p("model.pt"))
    run("unlearn", "--checkpoint", p("model.pt"), "--request", p("forget.csv"), *method,
        "--output", p("step1.pt"), "--ledger", p("deletions.jsonl"))
    # the second request resolves on step1's retained graph: user 42's pairs are already gone
    run("unlearn", "--checkpoint", p("step1.pt"), "--request", p("forget_user.csv"),
        "--request-kind", "users", *method, "--output", p("step2.pt"),
        "--ledger", p("deletions.jsonl"))
    run("audit", p("deletions.jsonl"))


if __name__ == "__main__":
    main_example(sys.argv[1] if len(sys.argv) > 1 else "forget_requests")
