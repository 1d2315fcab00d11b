"""PyTorch Geometric side of `gcn_vs_pyg.py`: times a 2-layer `GCNConv` model.

Runs in the side environment with torch and torch_geometric (no TensorFlow):

  benchmarks/.pyg-venv/bin/python benchmarks/pyg_gcn_epoch.py GRAPH.npz \
      --hidden 16 --epochs 100 --warmup 10

GRAPH.npz holds `features` [N, F] float32, `labels` [N], `train` (node ids),
`senders`, `receivers` and `weights` (directed edges, both directions). The
model is PyG's Cora example: dropout 0.5, `GCNConv` (which normalises
`D^-1/2 (A + I) D^-1/2` from the edge weights on every call, as ours does),
ReLU, dropout, `GCNConv`; Adam 0.01 with weight decay 5e-4 on the first
layer. Prints one JSON line: the per-epoch seconds after warm-up.
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv


class GCN(torch.nn.Module):

  def __init__(self, num_features: int, hidden: int, num_classes: int):
    super().__init__()
    self.conv1 = GCNConv(num_features, hidden)
    self.conv2 = GCNConv(hidden, num_classes)

  def forward(self, x, edge_index, edge_weight):
    x = F.dropout(x, p=0.5, training=self.training)
    x = F.relu(self.conv1(x, edge_index, edge_weight))
    x = F.dropout(x, p=0.5, training=self.training)
    return self.conv2(x, edge_index, edge_weight)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("graph")
  parser.add_argument("--hidden", type=int, default=16)
  parser.add_argument("--epochs", type=int, default=100)
  parser.add_argument("--warmup", type=int, default=10)
  parser.add_argument("--threads", type=int, default=0,
                      help="torch.set_num_threads (0: torch's default)")
  args = parser.parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)
  data = np.load(args.graph)
  torch.manual_seed(0)
  x = torch.from_numpy(data["features"])
  y = torch.from_numpy(data["labels"].astype(np.int64))
  train = torch.from_numpy(data["train"].astype(np.int64))
  edge_index = torch.from_numpy(
      np.stack([data["senders"], data["receivers"]]).astype(np.int64))
  edge_weight = torch.from_numpy(data["weights"].astype(np.float32))
  model = GCN(x.shape[1], args.hidden, int(y.max()) + 1)
  optimizer = torch.optim.Adam([
      dict(params=model.conv1.parameters(), weight_decay=5e-4),
      dict(params=model.conv2.parameters(), weight_decay=0.0)], lr=0.01)
  model.train()
  seconds = []
  for _ in range(args.warmup + args.epochs):
    start = time.perf_counter()
    optimizer.zero_grad()
    out = model(x, edge_index, edge_weight)
    loss = F.cross_entropy(out[train], y[train])
    loss.backward()
    optimizer.step()
    seconds.append(time.perf_counter() - start)
  print(json.dumps({"seconds": seconds[args.warmup:],
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__}))


if __name__ == "__main__":
  main()
