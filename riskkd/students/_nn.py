"""Torch modules of the students. Free of scikit-learn; sizes are keyword-only."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """A multilayer perceptron on numeric features plus categorical embedding rows.

    Each categorical column ``j`` is looked up in a shared embedding table ``E`` of
    ``d_embedding`` columns; the lookups are concatenated to the numeric inputs and fed to
    the first linear layer.

    Parameters
    ----------
    d_num : int
        Number of numeric inputs.
    n_embeddings : int
        Rows of the categorical embedding table (0 when there are no categorical columns).
    n_cat : int
        Number of categorical columns.
    d_embedding : int
        Width of each categorical embedding.
    d_out : int
        Number of outputs (1 for a binary log-odds, else the number of classes).
    hidden : sequence of int
        Widths of the hidden layers.
    dropout : float
        Dropout after each hidden activation.
    """

    def __init__(
        self,
        *,
        d_num: int,
        n_embeddings: int,
        n_cat: int,
        d_embedding: int,
        d_out: int,
        hidden: Sequence[int],
        dropout: float,
    ):
        super().__init__()
        widths = [*hidden, d_out]
        self.embedding = nn.Embedding(max(n_embeddings, 1), d_embedding)
        nn.init.normal_(self.embedding.weight, std=1.0)
        self.has_cat = n_cat > 0
        self.first = nn.Linear(d_num + n_cat * d_embedding, widths[0])
        self.rest = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.dropout = nn.Dropout(dropout)

    def forward(self, xn: torch.Tensor, xc: torch.Tensor) -> torch.Tensor:
        if self.has_cat:
            xn = torch.cat([xn, self.embedding(xc).flatten(1)], dim=1)
        h = self.first(xn)
        for layer in self.rest:
            h = layer(self.dropout(torch.relu(h)))
        return h
