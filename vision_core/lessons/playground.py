"""A 2-D playground: toy point clouds, a small MLP, and full-batch training one step at a time.

The Lightning tutorial's hello world is a 2-4-1 MLP (sigmoid hidden layer, linear output, MSE, Adam 0.01)
learning XOR; this module is that model made adjustable (data, layers, activation, loss, optimiser, L2) and
steppable, so a page can redraw the decision boundary between steps. Everything is tiny (a few hundred
points, a few dozen weights): it runs on the CPU in the page's own process, no job queue.

Example::

    pg = Playground(make_data("xor4"), hidden=(4,), activation="sigmoid", loss="mse", optimizer="adam", lr=0.01)
    pg.train(2000)
    pg.metrics()["train_acc"]  # 1.0
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

DATASETS = {
    "xor4": "XOR: the tutorial's 4 points",
    "xor": "XOR (4 quadrants)",
    "circles": "Circles",
    "moons": "Two moons",
    "spirals": "Spirals",
    "blobs": "Gaussian blobs",
}
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
LOSSES = {"mse": "Mean squared error (the tutorial's)", "cross_entropy": "Cross-entropy (BCE with logits)"}
OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD + momentum 0.9", "adam": "Adam"}
MAX_HIDDEN_LAYERS, MAX_UNITS = 6, 16


def _choice(value: str, allowed: dict, what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}: choose one of {', '.join(allowed)}")
    return value


# ---- data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaygroundData:
    """Points (N, 2) float32 and labels (N,) float32 in {0, 1}, split into train and test."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    bounds: tuple[float, float, float, float]  # x0, x1, y0, y1: the square the boundary is drawn over

    @property
    def same_split(self) -> bool:
        """True when train and test are the same points (the 4-point XOR)."""
        return self.x_train.shape == self.x_test.shape and bool(torch.equal(self.x_train, self.x_test))


def _spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals (TensorFlow Playground's), one per class."""
    half = n // 2
    points, labels = [], []
    for label, delta in ((0, 0.0), (1, np.pi)):
        count = half if label == 0 else n - half
        t = np.linspace(0.0, 1.0, count)
        radius, angle = 5 * t, 1.75 * t * 2 * np.pi + delta
        xy = np.stack([radius * np.sin(angle), radius * np.cos(angle)], 1) / 5  # within the unit disc
        points.append(xy + rng.normal(scale=noise, size=xy.shape))
        labels.append(np.full(count, label))
    return np.concatenate(points), np.concatenate(labels)


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points in [−1, 1]²; class 1 where x·y < 0 (the quadrants where XOR of the signs is true)."""
    xy = rng.uniform(-1, 1, size=(n, 2))
    xy += np.sign(xy) * 0.05  # a thin gap along the axes, as in TensorFlow Playground
    labels = (xy[:, 0] * xy[:, 1] < 0).astype(int)
    return xy + rng.normal(scale=noise, size=xy.shape), labels


def make_data(name: str, n: int = 200, noise: float = 0.1, test_fraction: float = 0.3, seed: int = 0
              ) -> PlaygroundData:
    """A toy 2-D binary problem; scikit-learn's generators where it has them.

    ``noise`` is a standard deviation in the data's own units (about ±1). ``xor4`` is the tutorial's four
    points with no noise: train and test are those same 4 points, as in the tutorial.
    Example: ``make_data("moons", n=300, noise=0.2).x_train.shape == (210, 2)``.
    """
    from sklearn import datasets as skdata
    from sklearn.model_selection import train_test_split

    _choice(name, DATASETS, "dataset")
    if not (isinstance(n, (int, np.integer)) and 8 <= n <= 5000):
        raise ValueError(f"n (number of points) must be a whole number from 8 to 5000, got {n!r}")
    if not 0 <= noise <= 2:
        raise ValueError(f"noise must be between 0 and 2, got {noise!r}")
    if not 0.05 <= test_fraction <= 0.9:
        raise ValueError(f"test_fraction must be between 0.05 and 0.9, got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    if name == "xor4":
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
        y = np.array([0, 1, 1, 0], dtype=np.float32)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        return PlaygroundData(name, xt, yt, xt.clone(), yt.clone(), (-0.5, 1.5, -0.5, 1.5))
    state = int(rng.integers(2**31))
    if name == "circles":
        x, y = skdata.make_circles(n, noise=noise, factor=0.5, random_state=state)
    elif name == "moons":
        x, y = skdata.make_moons(n, noise=noise, random_state=state)
        x = (x - [0.5, 0.25]) / 1.2  # centred on the origin, about ±1
    elif name == "blobs":
        x, y = skdata.make_blobs(n, centers=[(-0.5, -0.5), (0.5, 0.5)], cluster_std=0.15 + noise,
                                 random_state=state)
    elif name == "spirals":
        x, y = _spirals(n, noise, rng)
    else:
        x, y = _xor(n, noise, rng)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, random_state=state,
                                                        stratify=y)
    reach = float(np.abs(x).max()) * 1.1
    tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)
    return PlaygroundData(name, tensor(x_train), tensor(y_train), tensor(x_test), tensor(y_test),
                          (-reach, reach, -reach, reach))


# ---- model ---------------------------------------------------------------------------------------


def build_mlp(hidden: tuple[int, ...] = (4,), activation: str = "sigmoid") -> nn.Sequential:
    """2 → hidden… → 1: Linear + activation per hidden layer, a linear output (one score per point).

    ``hidden=()`` is a linear model (it cannot learn XOR). Example: ``build_mlp((4,))`` is the tutorial's 2-4-1.
    """
    _choice(activation, ACTIVATIONS, "activation")
    hidden = tuple(hidden)
    if len(hidden) > MAX_HIDDEN_LAYERS:
        raise ValueError(f"at most {MAX_HIDDEN_LAYERS} hidden layers, got {len(hidden)}")
    for units in hidden:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or not 1 <= units <= MAX_UNITS:
            raise ValueError(f"each hidden layer needs 1 to {MAX_UNITS} units, got {units!r}")
    layers: list[nn.Module] = []
    width = 2
    for units in hidden:
        layers += [nn.Linear(width, int(units)), ACTIVATIONS[activation]()]
        width = int(units)
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _optimizer(model: nn.Module, name: str, lr: float, l2: float) -> torch.optim.Optimizer:
    """L2 on the weights only (not the biases), as TensorFlow Playground and the textbook do."""
    _choice(name, OPTIMIZERS, "optimiser")
    if not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"the learning rate must be a positive number, got {lr!r}")
    if not (l2 >= 0 and np.isfinite(l2)):
        raise ValueError(f"L2 must be 0 or a positive number, got {l2!r}")
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    groups = [{"params": weights, "weight_decay": l2}, {"params": biases, "weight_decay": 0.0}]
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9 if name == "momentum" else 0.0)


# ---- training ------------------------------------------------------------------------------------

_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 1


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (process-wide, restored when the last user leaves).

    These models are tiny: with two threads on a busy 2-core machine, torch spends its time waiting for the
    second thread, and a step costs 20–50× more (benchmarks/playground_speed.py).
    """
    global _threads_users, _threads_before
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)



@dataclass
class History:
    """One row per step: the losses and accuracies after that many updates."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)


class Playground:
    """One model on one data set, trained full-batch a few steps at a time (``train(n)``).

    Structure (data, hidden, activation, loss, seed) is fixed at construction: change it by building a new
    Playground. Optimiser, learning rate and L2 may change between steps (``set_optimizer``).
    """

    def __init__(self, data: PlaygroundData, hidden: tuple[int, ...] = (4,), activation: str = "sigmoid",
                 loss: str = "mse", optimizer: str = "adam", lr: float = 0.01, l2: float = 0.0, seed: int = 0):
        self.data = data
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        self.loss_name = _choice(loss, LOSSES, "loss")
        with torch.random.fork_rng(devices=[]):  # the seed decides these weights only, not the process's RNG
            torch.manual_seed(seed)
            self.model = build_mlp(self.hidden, activation)
        self.loss_fn = nn.MSELoss() if loss == "mse" else nn.BCEWithLogitsLoss()
        self._x_both = torch.cat([data.x_train, data.x_test])  # both splits in one forward pass (_record)
        self.optimizer_settings: tuple[str, float, float] | None = None
        self.set_optimizer(optimizer, lr, l2)
        self.steps = 0
        self.history = History()
        with one_thread():
            self._record()

    def set_optimizer(self, name: str, lr: float, l2: float) -> None:
        """Change the optimiser settings; the weights stay. A new optimiser type starts with fresh state."""
        if self.optimizer_settings is not None and self.optimizer_settings[0] == name:
            _optimizer(self.model, name, lr, l2)  # validates
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.param_groups[0]["weight_decay"] = l2
        else:
            self.optimizer = _optimizer(self.model, name, lr, l2)
        self.optimizer_settings = (name, float(lr), float(l2))

    def probability(self, scores: torch.Tensor) -> torch.Tensor:
        """Class-1 score in [0, 1]: sigmoid of the logit (cross-entropy), the raw output clipped (MSE)."""
        return torch.sigmoid(scores) if self.loss_name == "cross_entropy" else scores.clamp(0, 1)

    def predict(self, scores: torch.Tensor) -> torch.Tensor:
        """Class 1 where the score is past the boundary: logit > 0, or MSE output > 0.5 (the tutorial's rounding)."""
        return (scores > (0.0 if self.loss_name == "cross_entropy" else 0.5)).float()

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).squeeze(-1)  # (N,)

    def _evaluate(self, scores: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        return float(self.loss_fn(scores, y)), float((self.predict(scores) == y).float().mean())

    def _record(self) -> None:
        # One forward pass over train and test together: a step's bookkeeping costs one small matrix product
        # per layer instead of two (torch's per-call overhead dominates at this size).
        n_train = len(self.data.x_train)
        with torch.inference_mode():
            if self.data.same_split:
                scores = self._scores(self.data.x_train)
                test_scores = scores
            else:
                both = self._scores(self._x_both)
                scores, test_scores = both[:n_train], both[n_train:]
            train_loss, train_acc = self._evaluate(scores, self.data.y_train)
            test_loss, test_acc = self._evaluate(test_scores, self.data.y_test)
        h = self.history
        h.step.append(self.steps)
        h.train_loss.append(train_loss)
        h.test_loss.append(test_loss)
        h.train_acc.append(train_acc)
        h.test_acc.append(test_acc)

    def train(self, steps: int = 1) -> None:
        """``steps`` full-batch updates; one history row after each."""
        self.model.train()
        with one_thread():
            self._train(int(steps))

    def _train(self, steps: int) -> None:
        for _ in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self._scores(self.data.x_train), self.data.y_train)
            loss.backward()
            self.optimizer.step()
            self.steps += 1
            self._record()

    def metrics(self) -> dict[str, float]:
        """The latest row: ``step``, ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``."""
        h = self.history
        return {"step": h.step[-1], "train_loss": h.train_loss[-1], "test_loss": h.test_loss[-1],
                "train_acc": h.train_acc[-1], "test_acc": h.test_acc[-1]}

    @property
    def diverged(self) -> bool:
        return not np.isfinite(self.history.train_loss[-1])

    # ---- pictures ----

    def grid(self, resolution: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        """Axis values (resolution,) ×2 and the grid points (resolution², 2), row-major (y rows, x columns)."""
        x0, x1, y0, y1 = self.data.bounds
        xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
        gx, gy = np.meshgrid(xs, ys)
        points = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        return xs, ys, points

    @torch.no_grad()
    def boundary(self, resolution: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xs, ys, p): the class-1 score p (resolution × resolution, rows = ys) over the data's square."""
        xs, ys, points = self.grid(resolution)
        with one_thread():
            p = self.probability(self._scores(points)).numpy().reshape(resolution, resolution)
        return xs, ys, p

    @torch.no_grad()
    def hidden_maps(self, resolution: int = 24) -> list[np.ndarray]:
        """One (units, resolution, resolution) array per hidden layer: every unit's activation over the square."""
        _, _, points = self.grid(resolution)
        maps, h = [], points
        with one_thread():
            for layer in self.model:
                h = layer(h)
                if not isinstance(layer, nn.Linear):  # an activation: the output of one hidden layer
                    maps.append(h.T.reshape(-1, resolution, resolution).numpy())
        return maps


def unit_range(activation: str) -> tuple[float, float | None]:
    """(neutral value drawn white, half-span) for colouring hidden-unit maps; ReLU is unbounded: span None."""
    return {"sigmoid": (0.5, 0.5), "tanh": (0.0, 1.0), "relu": (0.0, None)}[_choice(activation, ACTIVATIONS,
                                                                                   "activation")]


def thin(n: int, limit: int = 400) -> np.ndarray:
    """Indices of at most about ``limit`` evenly spaced rows of an ``n``-row history, the last row always in."""
    if n <= 0:
        return np.arange(0)
    step = max(1, -(-n // limit))
    index = np.arange(0, n, step)
    return index if index[-1] == n - 1 else np.append(index, n - 1)
