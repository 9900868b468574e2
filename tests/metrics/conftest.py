import pytest
import torch


@pytest.fixture(scope="session")
def cora_node_deletion(cora):
    """A Cora node classifier (60/20/20, 100 epochs, seed 0), 80 of its training nodes deleted
    (seed 0), and the model retrained without them: (task, original, retrained model)."""
    from gnn_unlearn import DeletionRequest, TrainConfig, train, unlearn
    from gnn_unlearn.data import node_split
    data = node_split(cora, train_ratio=0.6, val_ratio=0.2, use_public=False, seed=0)
    model, _ = train(data, "node", TrainConfig(epochs=100, eval_every=100, patience=10 ** 6, seed=0))
    train_ids = data.train_mask.nonzero().view(-1)
    ids = train_ids[torch.randperm(train_ids.numel(), generator=torch.Generator().manual_seed(0))[:80]]
    task = DeletionRequest.nodes(ids).resolve(data)
    retrained = unlearn(model, task, "retrain", epochs=100, patience=10 ** 6, eval_every=100).model
    return task, model, retrained
