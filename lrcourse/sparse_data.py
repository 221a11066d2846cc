"""A problem whose gradients are sparse: a bag-of-words classifier on Zipf-distributed tokens.

``EmbeddingBagClassifier`` is ``nn.EmbeddingBag(vocab, 2, mode="mean")`` followed by softmax
cross-entropy: the parameter is the (vocab, 2) table of class scores per token, and a minibatch
gradient touches only the rows of the tokens it contains, so ``grad(x, t)`` is a
``SparseGrad`` listing one entry per token occurrence, as torch's ``sparse=True`` backward does.
The data are synthetic, drawn with a fixed seed (nothing is downloaded).
"""
from __future__ import annotations

import numpy as np

from .optimizers import SparseGrad
from .problems import Problem, minibatch

__all__ = ["TokenData", "make_zipf_text", "EmbeddingBagClassifier"]


class TokenData:
    """Documents of ``length`` tokens each with binary labels, split into train and validation.

    Attributes: ``tokens_train`` / ``tokens_val`` (documents x length ints), ``y_train`` / ``y_val``
    (0 or 1), ``polarity`` (the teacher's score of every token), ``vocab``, ``probs`` (each token's
    frequency).
    """

    def __init__(self, tokens_train, y_train, tokens_val, y_val, polarity, probs):
        self.tokens_train, self.y_train, self.tokens_val, self.y_val = tokens_train, y_train, tokens_val, y_val
        self.polarity, self.probs, self.vocab = polarity, probs, len(probs)

    def __repr__(self):
        return (f"TokenData(vocab={self.vocab}, train={self.tokens_train.shape}, val={self.tokens_val.shape}, "
                f"positives={self.y_train.mean():.2f})")


def make_zipf_text(vocab=5000, n=3000, length=20, zipf=1.1, neutral=50, seed=0, val_fraction=0.25,
                   label_noise=0.05) -> TokenData:
    """Token k (k = 0 .. vocab-1) is drawn with probability proportional to 1 / (k + 1)**zipf; the
    ``neutral`` most frequent tokens carry no signal (stop words), every other token a polarity
    drawn from N(0, 1); a document's label is whether the sum of its polarities is positive,
    flipped with probability ``label_noise``.

    >>> data = make_zipf_text(vocab=100, n=40, length=5)
    >>> data.tokens_train.shape, data.tokens_val.shape, data.vocab
    ((30, 5), (10, 5), 100)
    """
    if vocab < 1 or n < 2 or length < 1:
        raise ValueError(f"need vocab >= 1, n >= 2 and length >= 1, got vocab={vocab}, n={n}, length={length}")
    rng = np.random.default_rng(seed)
    probs = 1.0 / np.arange(1, vocab + 1) ** zipf
    probs /= probs.sum()
    tokens = rng.choice(vocab, size=(n, length), p=probs)
    polarity = rng.standard_normal(vocab)
    polarity[:neutral] = 0.0
    y = (polarity[tokens].sum(axis=1) > 0).astype(np.int64)
    flip = rng.random(n) < label_noise
    y[flip] = 1 - y[flip]
    n_val = int(round(n * val_fraction))
    return TokenData(tokens[n_val:], y[n_val:], tokens[:n_val], y[:n_val], polarity, probs)


class EmbeddingBagClassifier(Problem):
    r"""Mean of the tokens' rows, softmax cross-entropy: torch's ``EmbeddingBag(mode="mean")``.

    For a document of L tokens w_1 .. w_L, the logits are z = (1/L) sum_i x[w_i] (two classes),
    the loss is -log softmax(z)[y], averaged over the documents of the batch (B of them).  The
    gradient of the loss in z is dz = (softmax(z) - onehot(y)) / B, and token w_i receives dz / L:
    ``grad`` lists that value once per occurrence (a token used twice is listed twice; the
    optimizer sums them).

    Args:
        data: a ``TokenData`` (default ``make_zipf_text(seed=seed)``).
        batch_size: documents per minibatch (None: the whole training set, deterministic).
        seed: the data's seed and, with t, each minibatch's.
        sparse: ``grad`` gives a ``SparseGrad`` (True, as ``nn.EmbeddingBag(sparse=True)``) or the
            dense (vocab, 2) array (False, torch's default), for the optimizers that take only those.

    Example:
        >>> task = EmbeddingBagClassifier(make_zipf_text(vocab=200, n=100, length=5), batch_size=4)
        >>> g = task.grad(task.x0, t=0)
        >>> task.x0.shape, g.indices.shape, g.values.shape, round(task.loss(task.x0), 2)   # about log 2
        ((200, 2), (20,), (20, 2), 0.69)
    """

    def __init__(self, data: TokenData | None = None, batch_size=None, seed=0, sparse=True):
        self.data = make_zipf_text(seed=seed) if data is None else data
        self.batch_size, self.seed, self.sparse = batch_size, int(seed), bool(sparse)
        self.stochastic = batch_size is not None
        # A small random start, not 0: at x = 0 every entry is +-1/(2BL) and a row's entries can cancel
        # exactly, which leaves a sum of 0 or a rounding residue depending on the order of the additions
        # (torch's and ours differ), and Adagrad's g / (sqrt(g**2) + eps) turns a residue into a real step.
        self.x0 = 0.01 * np.random.default_rng((self.seed, 2**31)).standard_normal((self.data.vocab, 2))
        self.name = "embedding-bag classifier"

    def _batch(self, t):
        return minibatch(self.data.tokens_train, self.data.y_train, self.batch_size, self.seed, t)

    def logits(self, x, tokens):
        return np.asarray(x)[tokens].mean(axis=1)

    def loss(self, x, tokens=None, y=None) -> float:
        tokens = self.data.tokens_train if tokens is None else tokens
        y = self.data.y_train if y is None else y
        z = self.logits(np.asarray(x, dtype=np.float64), tokens)
        lse = np.logaddexp(z[:, 0], z[:, 1])
        return float(np.mean(lse - z[np.arange(len(y)), y]))

    def val_loss(self, x) -> float:
        return self.loss(x, self.data.tokens_val, self.data.y_val)

    def accuracy(self, x, split="val") -> float:
        tok, y = ((self.data.tokens_val, self.data.y_val) if split == "val"
                  else (self.data.tokens_train, self.data.y_train))
        return float(np.mean(self.logits(x, tok).argmax(axis=1) == y))

    def grad(self, x, t=0):
        x = np.asarray(x)
        tokens, y = self._batch(t)
        B, L = tokens.shape
        z = self.logits(x, tokens)
        p = np.exp(z - np.logaddexp(z[:, :1], z[:, 1:]))   # softmax, without overflow
        p[np.arange(B), y] -= 1.0
        dz = (p / B).astype(x.dtype)
        g = SparseGrad(tokens.reshape(-1), np.repeat(dz / x.dtype.type(L), L, axis=0))
        return g if self.sparse else g.to_dense(x.shape)
