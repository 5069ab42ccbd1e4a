"""A compact MLP student trained with torch and scored with numpy."""

from __future__ import annotations

import copy
import logging
import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._holdout import holdout_split
from ..calibration import proba_to_logits
from ._base import Student

logger = logging.getLogger(__name__)

# Rows per block of the numpy forward pass (see decision_logits).
_BLOCK_ROWS = 4096


class MLPStudent(Student):
    """A small multilayer perceptron distilled from the teacher's soft targets.

    Trained with AdamW on full tensors sliced into mini-batches (no per-sample data loader),
    early-stopped on a stratified held-out part of the transfer set (a training row with its
    synthetic copies, see ``groups``; the training loss on that part is the stopping
    criterion, so ``alpha=0`` is plain hard-label training), and
    deterministic for a given ``random_state`` and number of torch threads (with another
    thread count torch sums in another order, and training can end on another epoch and
    model). Predictions run a numpy forward pass in float32.

    With ``monotone`` constraints (see :meth:`fit`) the network is a constrained monotone
    MLP (:class:`riskkd.students._nn.MonotoneMLP`: sign-constrained first-layer weights on
    the constrained inputs, non-negative later weights, a mix of convex, concave and
    saturated non-decreasing activations). The constraints then hold by construction for
    every input, exactly, which a training penalty cannot promise; the price is a somewhat
    less flexible network in the free inputs.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or "auto", default="auto"
        Widths of the hidden layers. ``"auto"`` is ``(32, 16)`` below 20,000 training rows
        (small data supports a small network) and ``(64, 32)`` otherwise.
    embedding_dim : int, default=4
        Width of the learned embedding of each categorical level.
    dropout : float, default=0.0
        Dropout after each hidden activation.
    learning_rate : float, default=3e-3
    weight_decay : float, default=1e-4
    batch_size : int or "auto", default="auto"
        ``"auto"`` scales with the data: about n/100 rounded to a power of two in [64, 2048].
    max_epochs : int, default=300
    patience : int, default=20
        Epochs without improvement of the validation loss before stopping; the best epoch's
        weights are kept.
    validation_fraction : float, default=0.15
    storage_dtype : {"float16", "float32"}, default="float16"
        Precision of the stored weights. float16 halves the size on disk; predictions are
        computed in float32 from the rounded weights, in memory and after loading alike.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    coefs_ : list of ndarray
        Weight matrices ``(n_in, n_out)`` of the layers; the first reads the numeric inputs
        followed by the concatenated categorical embeddings.
    intercepts_ : list of ndarray
    embedding_ : ndarray of shape (n_embeddings, embedding_dim)
    history_ : list of dict
        Per epoch: ``train_loss``, ``val_loss``, ``val_kl_to_teacher``,
        ``val_teacher_agreement`` (share of held-out rows where student and teacher pick the
        same class).
    best_epoch_ : int
    monotone_ : ndarray of shape (n_numeric_inputs,) or None
        The monotone constraints the network keeps (+1, -1, 0), or None.
    activation_splits_ : list of [int, int] or None
        With constraints: ``(n_convex, n_concave)`` units of each hidden layer (the rest
        are saturated).
    """

    # Measured the same way: a 0.3 share of hard-label loss improved retention and ECE.
    default_alpha = 0.7

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [tuple, list, StrOptions({"auto"})],
        "embedding_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "patience": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "storage_dtype": [StrOptions({"float16", "float32"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        hidden_layer_sizes="auto",
        embedding_dim=4,
        dropout=0.0,
        learning_rate=3e-3,
        weight_decay=1e-4,
        batch_size="auto",
        max_epochs=300,
        patience=20,
        validation_fraction=0.15,
        storage_dtype="float16",
        random_state=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.storage_dtype = storage_dtype
        self.random_state = random_state

    # ------------------------------------------------------------------ training
    def _hidden(self, n_samples: int) -> tuple[int, ...]:
        if self.hidden_layer_sizes == "auto":
            return (32, 16) if n_samples < 20_000 else (64, 32)
        return tuple(self.hidden_layer_sizes)

    def get_module(self, *, d_num, n_embeddings, n_cat, d_out, n_samples, monotone=None):
        """The torch module to train. Override to change the architecture.

        ``monotone`` is None or the per-input constraints of :meth:`fit`; the module must
        then keep them for every input (see the class docstring).
        """
        from ._nn import MLP, MonotoneMLP

        sizes = {
            "d_num": d_num,
            "n_embeddings": n_embeddings,
            "n_cat": n_cat,
            "d_embedding": self.embedding_dim,
            "d_out": d_out,
            "hidden": self._hidden(n_samples),
            "dropout": self.dropout,
        }
        if monotone is None:
            return MLP(**sizes)
        return MonotoneMLP(monotone=[int(c) for c in monotone], **sizes)

    def get_optimizer(self, module):
        """The optimizer. Override to change it."""
        import torch

        return torch.optim.AdamW(
            module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )

    def _batch_size(self, n: int) -> int:
        if self.batch_size != "auto":
            return int(self.batch_size)
        return int(np.clip(2 ** round(np.log2(max(n, 1) / 100)), 64, 2048))

    def fit(
        self,
        Xn,
        Xc,
        *,
        n_embeddings,
        soft_proba,
        y,
        sample_weight,
        loss,
        monotone=None,
        groups=None,
    ):
        import torch

        from ..losses import as_class_logits

        self._validate_params()
        monotone = _check_monotone(monotone, Xn.shape[1])
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(0, 2**31 - 1))
        n_classes = soft_proba.shape[1]
        d_out = 1 if n_classes == 2 else n_classes

        fit_idx, val_idx = holdout_split(
            y, self.validation_fraction, seed, groups, weight=sample_weight
        )

        teacher_logits = proba_to_logits(soft_proba)

        def tensors(idx):
            return (
                torch.from_numpy(np.ascontiguousarray(Xn[idx], dtype=np.float32)),
                torch.from_numpy(np.ascontiguousarray(Xc[idx], dtype=np.int64)),
                torch.from_numpy(teacher_logits[idx].astype(np.float32)),
                torch.from_numpy(y[idx].astype(np.int64)),
                torch.from_numpy(sample_weight[idx].astype(np.float32)),
            )

        train, val = tensors(fit_idx), tensors(val_idx)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module = self.get_module(
                d_num=Xn.shape[1],
                n_embeddings=n_embeddings,
                n_cat=Xc.shape[1],
                d_out=d_out,
                n_samples=int((y >= 0).sum()),  # labelled rows: synthetic ones add no data
                monotone=monotone,
            )
        optimizer = self.get_optimizer(module)
        generator = torch.Generator().manual_seed(seed)
        batch_size = self._batch_size(len(fit_idx))

        self.history_ = []
        best_loss, best_state, best_epoch, stale = np.inf, None, 0, 0
        for epoch in range(self.max_epochs):
            module.train()
            order = torch.randperm(len(fit_idx), generator=generator)
            total, seen = 0.0, 0.0
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                xn, xc, tl, yb, wb = (t[batch] for t in train)
                optimizer.zero_grad(set_to_none=True)
                value = loss(module(xn, xc), tl, yb, wb)
                value.backward()
                optimizer.step()
                batch_weight = float(wb.sum())
                total += value.item() * batch_weight
                seen += batch_weight
            module.eval()
            with torch.no_grad():
                xn, xc, tl, yb, wb = val
                logits = module(xn, xc)
                val_loss = float(loss(logits, tl, yb, wb))
                log_student = torch.log_softmax(as_class_logits(logits), dim=1)
                log_teacher = torch.log_softmax(tl, dim=1)
                kl = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1)
                val_weight = wb.sum().clamp_min(1e-12)
                val_kl = float((kl * wb).sum() / val_weight)
                agree = (log_student.argmax(dim=1) == log_teacher.argmax(dim=1)).float()
                val_agree = float((agree * wb).sum() / val_weight)
            self.history_.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": total / max(seen, 1e-12),
                    "val_loss": val_loss,
                    "val_kl_to_teacher": val_kl,
                    "val_teacher_agreement": val_agree,
                }
            )
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("MLP epoch %d: %s", epoch + 1, _format_losses(self.history_[-1]))
            if val_loss < best_loss - 1e-6:
                best_loss, best_epoch, stale = val_loss, epoch + 1, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is None:
            raise ValueError(
                f"The MLP's validation loss was never finite ({self.history_[0]['val_loss']}) "
                f"in {len(self.history_)} epoch(s): training diverged. Check the temperature "
                f"({getattr(loss, 'temperature', None)}), sample_weight and the inputs."
            )
        module.load_state_dict(best_state)
        self.best_epoch_ = best_epoch
        logger.info(
            "MLP stopped after %d epochs; kept epoch %d: %s",
            len(self.history_),
            best_epoch,
            _format_losses(self.history_[best_epoch - 1]),
        )
        self.monotone_ = monotone
        self.activation_splits_ = (
            None if monotone is None else [list(split) for split in module.splits]
        )
        self._export(module)
        return self

    def _export(self, module) -> None:
        """Copy the trained weights into numpy arrays for torch-free inference.

        Weights are rounded to ``storage_dtype`` here, once, so the in-memory model computes
        with exactly the numbers that are saved (float32 arithmetic either way). Rounding
        never flips a sign, so monotone constraints survive it.
        """
        import torch

        with torch.no_grad():
            exported = module.export_state()
        state = {
            k: v.detach().cpu().numpy().astype(self.storage_dtype).astype(np.float32)
            for k, v in exported.items()
        }
        self.coefs_ = [state["first.weight"].T.copy()]
        self.intercepts_ = [state["first.bias"]]
        self.embedding_ = state["embedding.weight"]
        k = 0
        while f"rest.{k}.weight" in state:
            self.coefs_.append(state[f"rest.{k}.weight"].T.copy())
            self.intercepts_.append(state[f"rest.{k}.bias"])
            k += 1

    # ------------------------------------------------------------------ inference
    def decision_logits(self, Xn, Xc):
        if len(Xn) <= _BLOCK_ROWS:
            return self._forward(Xn, Xc)
        # Blocks of rows whose activations stay in cache: on 1M rows several times faster
        # than whole-batch products, which stream every layer's activations through memory.
        out = np.empty((len(Xn), self.coefs_[-1].shape[1]), dtype=np.float32)
        for start in range(0, len(Xn), _BLOCK_ROWS):
            block = slice(start, start + _BLOCK_ROWS)
            out[block] = self._forward(Xn[block], Xc[block])
        return out

    def _forward(self, Xn, Xc):
        first = self.coefs_[0]
        h = Xn @ first[: Xn.shape[1]]
        if Xc.shape[1]:
            # The first layer reads [numeric, embeddings]; two products avoid concatenating
            # them, and np.take is several times faster than fancy indexing for the gather.
            embedded = np.take(self.embedding_, Xc, axis=0)
            h += embedded.reshape(len(Xc), first.shape[0] - Xn.shape[1]) @ first[Xn.shape[1] :]
        h += self.intercepts_[0]
        splits = self.activation_splits_ or [None] * (len(self.coefs_) - 1)
        for W, b, split in zip(self.coefs_[1:], self.intercepts_[1:], splits):
            if split is None:
                np.maximum(h, 0.0, out=h)
            else:  # MonotoneMLP: convex, concave and saturated units
                a, c = split
                np.maximum(h[:, :a], 0.0, out=h[:, :a])
                np.minimum(h[:, a : a + c], 0.0, out=h[:, a : a + c])
                np.clip(h[:, a + c :], -1.0, 1.0, out=h[:, a + c :])
            h = h @ W
            h += b
        return h

    def get_state(self):
        arrays = {"embedding": self.embedding_}
        for i, (W, b) in enumerate(zip(self.coefs_, self.intercepts_)):
            arrays[f"coef_{i}"] = W
            arrays[f"intercept_{i}"] = b
        arrays = {k: v.astype(self.storage_dtype) for k, v in arrays.items()}
        settings = {"n_layers": len(self.coefs_), "best_epoch": self.best_epoch_}
        if self.monotone_ is not None:
            settings["monotone"] = [int(c) for c in self.monotone_]
            settings["activation_splits"] = self.activation_splits_
        return settings, arrays

    def set_state(self, settings, arrays):
        n = settings["n_layers"]
        arrays = {k: v.astype(np.float32) for k, v in arrays.items()}
        self.coefs_ = [arrays[f"coef_{i}"] for i in range(n)]
        self.intercepts_ = [arrays[f"intercept_{i}"] for i in range(n)]
        self.embedding_ = arrays["embedding"]
        self.best_epoch_ = settings["best_epoch"]
        monotone = settings.get("monotone")
        self.monotone_ = None if monotone is None else np.asarray(monotone, dtype=np.int8)
        splits = settings.get("activation_splits")
        self.activation_splits_ = None if splits is None else [list(s) for s in splits]
        self.history_ = []
        return self


def _check_monotone(monotone, n_inputs: int) -> np.ndarray | None:
    """The ``monotone`` argument of :meth:`MLPStudent.fit` as int8, or None when all free."""
    if monotone is None:
        return None
    monotone = np.asarray(monotone)
    if monotone.shape != (n_inputs,) or not np.isin(monotone, (-1, 0, 1)).all():
        raise ValueError(
            f"monotone must hold one of -1, 0, +1 per numeric input ({n_inputs}); got "
            f"{monotone.tolist()!r}."
        )
    return monotone.astype(np.int8) if monotone.any() else None


def _format_losses(entry: dict) -> str:
    """One history entry as ``train_loss=0.4123 val_loss=...`` (epoch left out)."""
    return " ".join(f"{k}={v:.4f}" for k, v in entry.items() if k != "epoch")
