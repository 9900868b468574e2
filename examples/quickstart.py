"""Delete 2.5 % of Cora's training edges from a GCN and compare with retraining.

    GNN_UNLEARN_MIRROR=../shared/datasets python examples/quickstart.py
"""
from gnn_unlearn import evaluate, link_split, load_dataset, train, unlearn
from gnn_unlearn.data import sample_edges

data = link_split(load_dataset("Cora"), seed=0)
model, _ = train(data, task="link", encoder="gcn")
task = sample_edges(data, 0.025, where="in", seed=0).resolve(data, num_hops=2)
result = unlearn(model, task, method="gradient_ascent")
print(evaluate(result, task))
