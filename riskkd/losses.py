"""Distillation losses (torch).

A loss mixes a soft term against the teacher's calibrated logits with the usual
cross-entropy on the hard labels::

    loss = alpha * soft(student_logits, teacher_logits) + (1 - alpha) * CE(student_logits, y)

``alpha=0`` skips the soft term entirely: the student is then trained on hard labels alone,
with everything else unchanged. Synthetic transfer rows have no label (``y = -1``): they
enter the soft term only. A new loss is a subclass overriding :meth:`soft_loss`.

Logits are ``(n, n_classes)``; a binary student's single logit ``z`` is read as the pair
``[0, z]``, which makes the softmax equal the sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def as_class_logits(logits: torch.Tensor) -> torch.Tensor:
    """``(n, 1)`` binary logits as ``(n, 2)`` class logits ``[0, z]``; others unchanged."""
    if logits.shape[1] == 1:
        return torch.cat([torch.zeros_like(logits), logits], dim=1)
    return logits


class DistillationLoss:
    """Weighted mix of a soft (teacher) term and hard-label cross-entropy.

    Parameters
    ----------
    alpha : float
        Weight of the soft term, in [0, 1].
    temperature : float
        Softening temperature of the soft term.
    """

    def __init__(self, alpha: float, temperature: float):
        self.alpha = alpha
        self.temperature = temperature

    def __call__(
        self,
        logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        y: torch.Tensor,
        weight: torch.Tensor,
    ) -> torch.Tensor:
        logits = as_class_logits(logits)
        total = weight.sum().clamp_min(1e-12)  # a mini-batch of zero-weight rows adds 0
        loss = logits.new_zeros(())
        if self.alpha > 0:
            loss = (
                loss + self.alpha * (self.soft_loss(logits, teacher_logits) * weight).sum() / total
            )
        if self.alpha < 1:
            labelled = (y >= 0).to(weight.dtype)
            hard = F.cross_entropy(logits, y.clamp(min=0), reduction="none") * labelled
            labelled_total = (weight * labelled).sum().clamp_min(1e-12)
            loss = loss + (1 - self.alpha) * (hard * weight).sum() / labelled_total
        return loss

    def soft_loss(self, logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """Per-sample soft loss, shape ``(n,)``. Override in subclasses."""
        raise NotImplementedError


class KLDistillationLoss(DistillationLoss):
    """KL divergence at temperature ``T``, times ``T**2`` (Hinton et al. 2015).

    The ``T**2`` factor keeps the soft gradients on the scale of the hard ones, so ``alpha``
    means the same thing at every temperature. With ``T=1`` this is soft cross-entropy
    against the calibrated probabilities (minus their constant entropy).
    """

    def soft_loss(self, logits, teacher_logits):
        t = self.temperature
        target = F.log_softmax(teacher_logits / t, dim=1)
        student = F.log_softmax(logits / t, dim=1)
        return (target.exp() * (target - student)).sum(dim=1) * t**2


class MSELogitDistillationLoss(DistillationLoss):
    """Mean squared error between centred student and teacher logits (Ba & Caruana 2014).

    Logits are centred per sample because a softmax is unchanged by adding a constant.
    """

    def soft_loss(self, logits, teacher_logits):
        diff = logits - teacher_logits
        diff = diff - diff.mean(dim=1, keepdim=True)
        return (diff**2).sum(dim=1)


LOSSES: dict[str, type[DistillationLoss]] = {
    "kl": KLDistillationLoss,
    "mse_logit": MSELogitDistillationLoss,
}
