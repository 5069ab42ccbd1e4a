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

    def export_state(self) -> dict[str, torch.Tensor]:
        """The weights that inference uses, keyed as in :meth:`state_dict`."""
        return dict(self.state_dict())


class MonotoneMLP(MLP):
    """An MLP whose outputs are monotone in chosen numeric inputs, by construction.

    The constrained monotone network of Runje & Shankaranarayana (ICML 2023):

    * the first layer's weights on an input with sign ``c = +1`` (``-1``) are ``c * |w|``:
      every first-layer unit is non-decreasing (non-increasing) in that input; weights on
      free inputs (and on the categorical embeddings) are unconstrained;
    * every later layer uses ``|W|``: non-negative weights;
    * every hidden activation is non-decreasing: a third of the units use ReLU (convex),
      a third ``min(x, 0)`` (concave) and the rest ``clip(x, -1, 1)`` (saturated).

    A composition of non-decreasing maps with non-negative weights is non-decreasing in
    every first-layer unit, so each output is monotone in each constrained input whatever
    the trained values: the guarantee holds for every input, not only on a checked grid.
    ReLU alone with non-negative weights could only represent convex functions; the mix of
    convex, concave and saturated units makes the network a universal approximator of
    partially monotone functions (their Theorem 4).

    Parameters
    ----------
    monotone : sequence of int
        +1, -1 or 0 per numeric input (length ``d_num``).
    **sizes
        As :class:`MLP` (keyword-only).
    """

    def __init__(self, *, monotone: Sequence[int], **sizes):
        super().__init__(**sizes)
        n_in = self.first.in_features
        sign = torch.zeros(n_in)
        sign[: len(monotone)] = torch.as_tensor(list(monotone), dtype=torch.float32)
        self.register_buffer("sign", sign)
        self.splits = [activation_split(layer.in_features) for layer in self.rest]

    def _first_weight(self) -> torch.Tensor:
        w = self.first.weight
        return torch.where(self.sign != 0, self.sign * w.abs(), w)

    def forward(self, xn: torch.Tensor, xc: torch.Tensor) -> torch.Tensor:
        if self.has_cat:
            xn = torch.cat([xn, self.embedding(xc).flatten(1)], dim=1)
        h = nn.functional.linear(xn, self._first_weight(), self.first.bias)
        for layer, (n_convex, n_concave) in zip(self.rest, self.splits):
            h = torch.cat(
                [
                    torch.relu(h[:, :n_convex]),
                    torch.clamp(h[:, n_convex : n_convex + n_concave], max=0.0),
                    torch.clamp(h[:, n_convex + n_concave :], -1.0, 1.0),
                ],
                dim=1,
            )
            h = nn.functional.linear(self.dropout(h), layer.weight.abs(), layer.bias)
        return h

    def export_state(self) -> dict[str, torch.Tensor]:
        state = dict(self.state_dict())
        state.pop("sign")
        state["first.weight"] = self._first_weight()
        for k, layer in enumerate(self.rest):
            state[f"rest.{k}.weight"] = layer.weight.abs()
        return state


def activation_split(width: int) -> tuple[int, int]:
    """``(n_convex, n_concave)`` units of a :class:`MonotoneMLP` hidden layer; the rest saturate."""
    third = width // 3
    return width - 2 * third, third
