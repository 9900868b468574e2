"""Remove one user's whole history from a LightGCN recommender, fast, and check it worked.

    GNN_UNLEARN_MIRROR=../shared/datasets python examples/recommender_unlearning.py
"""
from gnn_unlearn import DeletionRequest, TrainConfig, load_dataset, train, unlearn
from gnn_unlearn.methods.unlearnrec import pretrain_influence_encoder
from gnn_unlearn.metrics.rec import evaluate_recommender

data = load_dataset("lastfm")                                      # users, items, interactions
model, _ = train(data, "rec", TrainConfig(epochs=300, eval_every=50, seed=0))   # LightGCN + BPR
encoder, _ = pretrain_influence_encoder(model, data, request_size=0.01, steps=100)  # once per model
task = DeletionRequest.users([42]).resolve(data)                  # "forget me" from user 42
result = unlearn(model, task, "unlearnrec", encoder=encoder)      # one pass + 5 steps
print(f"served in {result.seconds:.2f} s")
print("before:", evaluate_recommender(model, task, on_original=True))
print("after: ", evaluate_recommender(result.model, task))
