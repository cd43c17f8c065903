"""An XGBoost regression ensemble as numpy arrays: the same score, its Saabas parts, fast.

``XGBRegressor.predict`` on one row spends ~150 µs in its wrapper and input checks, and
``pred_contribs`` needs a ``DMatrix`` (~800 µs a row). The arithmetic is a few hundred
comparisons. Here every tree walks one level per step for all rows and trees at once,
and the leaves are added in XGBoost's own order (base score first, then tree by tree, in
float32), so the score is XGBoost's to the bit. The contributions follow XGBoost's
``approx_contribs`` (Saabas): each split credits its feature with the change in the
cover-weighted mean value from node to child; they are computed in float64, so they
match XGBoost's float32 ones to about 1e-6.

Only plain numeric trees of a single-output ``gbtree`` model compile; anything else
raises ``NotCompilable`` and the caller keeps the native model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np


class NotCompilable(ValueError):
    """The model uses something this compiled form does not reproduce."""


@dataclass(frozen=True)
class CompiledTrees:
    """``(trees, nodes)`` arrays; a leaf's left child is -1 and its value is its leaf value."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray  # float32, compared as XGBoost does: go left if x < threshold
    default_left: np.ndarray  # where a missing value goes
    value: np.ndarray  # float32 leaf values (at leaves)
    mean_value: np.ndarray  # float64 cover-weighted mean of the leaves under each node
    base_score: np.float32
    n_features: int
    depth: int

    @classmethod
    def from_booster(cls, booster: Any) -> CompiledTrees:
        model = json.loads(bytes(booster.save_raw("json")))
        learner = model["learner"]
        booster_model = learner["gradient_booster"]
        if booster_model.get("name") != "gbtree":
            raise NotCompilable(f"booster {booster_model.get('name')!r} is not gbtree")
        params = learner["learner_model_param"]
        if int(params.get("num_target", "1")) != 1 or int(params.get("num_class", "0")) > 1:
            raise NotCompilable("only single-output models compile")
        objective = learner["objective"]["name"]
        if objective not in ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror"):
            raise NotCompilable(f"objective {objective!r} transforms its margin")
        trees = booster_model["model"]["trees"]
        if not trees:
            raise NotCompilable("the model has no trees")
        if any(tree["categories_nodes"] for tree in trees):
            raise NotCompilable("categorical splits are not compiled")
        base = np.float32(json.loads(params["base_score"].replace("E", "e"))).reshape(-1)
        return cls._from_trees(trees, np.float32(base[0]), int(params["num_feature"]))

    @classmethod
    def _from_trees(cls, trees: list[dict], base_score: np.float32, n_features: int):
        width = max(len(tree["left_children"]) for tree in trees)
        shape = (len(trees), width)
        left = np.full(shape, -1, dtype=np.int64)
        right = np.full(shape, -1, dtype=np.int64)
        feature = np.zeros(shape, dtype=np.int64)
        threshold = np.zeros(shape, dtype=np.float32)
        default_left = np.zeros(shape, dtype=bool)
        value = np.zeros(shape, dtype=np.float32)
        mean_value = np.zeros(shape, dtype=np.float64)
        depth = 0
        for t, tree in enumerate(trees):
            n = len(tree["left_children"])
            left[t, :n] = tree["left_children"]
            right[t, :n] = tree["right_children"]
            feature[t, :n] = tree["split_indices"]
            threshold[t, :n] = tree["split_conditions"]  # a leaf's holds its value
            default_left[t, :n] = np.asarray(tree["default_left"], dtype=bool)
            value[t, :n] = tree["split_conditions"]
            cover = np.asarray(tree["sum_hessian"], dtype=np.float64)
            depth = max(depth, _fill_means(left[t], right[t], value[t], cover, mean_value[t]))
        return cls(left, right, feature, threshold, default_left, value, mean_value,
                   base_score, n_features, depth)  # fmt: skip

    def _walk(self, X: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Flat node indices (``tree * width + node``): the leaf each row reaches in each
        tree, and per level the (node, child) pairs."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} columns, got shape {X.shape}")
        n_trees, width = self.left.shape
        left, right = self.left.reshape(-1), self.right.reshape(-1)
        feature, threshold = self.feature.reshape(-1), self.threshold.reshape(-1)
        default_left = self.default_left.reshape(-1)
        offsets = (np.arange(n_trees) * width)[None, :]
        node = np.broadcast_to(offsets, (X.shape[0], n_trees)).copy()
        row_start = (np.arange(X.shape[0]) * X.shape[1])[:, None]
        flat_x = X.reshape(-1)
        steps = []
        for _ in range(self.depth):
            to_left = left.take(node)
            inner = to_left >= 0
            if not inner.any():
                break
            x = flat_x.take(row_start + feature.take(node))
            goes_left = np.where(np.isnan(x), default_left.take(node), x < threshold.take(node))
            child = np.where(goes_left, to_left, right.take(node)) + offsets
            child = np.where(inner, child, node)
            steps.append((node, child))
            node = child
        return node, steps

    def predict(self, X: np.ndarray) -> np.ndarray:
        """XGBoost's prediction (float32), bit for bit."""
        leaf, _ = self._walk(X)
        return self._sum_leaves(leaf)

    def predict_with_contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``predict(X)`` and ``contributions(X)`` from one walk down the trees."""
        leaf, steps = self._walk(X)
        return self._sum_leaves(leaf), self._credit(steps, len(leaf))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """``(n, n_features + 1)`` Saabas contributions, bias last; rows sum to the score."""
        leaf, steps = self._walk(X)
        return self._credit(steps, len(leaf))

    def _sum_leaves(self, leaf: np.ndarray) -> np.ndarray:
        leaves = self.value.reshape(-1).take(leaf)
        ordered = np.hstack([np.full((len(leaves), 1), self.base_score, np.float32), leaves])
        # cumsum adds left to right, as XGBoost does; a plain sum pairs terms differently.
        return np.cumsum(ordered, axis=1, dtype=np.float32)[:, -1]

    def _credit(self, steps: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
        width = self.n_features + 1
        mean_value, feature = self.mean_value.reshape(-1), self.feature.reshape(-1)
        row_start = (np.arange(n) * width)[:, None]
        credit = np.zeros(n * width)
        for node, child in steps:
            moved = child != node
            delta = mean_value.take(child[moved]) - mean_value.take(node[moved])
            cells = (row_start + feature.take(node))[moved]
            credit += np.bincount(cells, weights=delta, minlength=n * width)
        out = credit.reshape(n, width)
        out[:, -1] = self.mean_value[:, 0].sum() + float(self.base_score)
        return out


def _fill_means(
    left: np.ndarray, right: np.ndarray, value: np.ndarray, cover: np.ndarray, out: np.ndarray
) -> int:
    """Each node's cover-weighted mean leaf value (XGBoost's ``FillNodeMeanValue``);
    returns the tree's depth in splits."""
    order: list[tuple[int, int]] = []
    stack = [(0, 0)]
    while stack:
        node, level = stack.pop()
        order.append((node, level))
        if left[node] >= 0:
            stack += [(int(left[node]), level + 1), (int(right[node]), level + 1)]
    for node, _ in reversed(order):  # children before parents
        if left[node] < 0:
            out[node] = value[node]
        else:
            a, b = left[node], right[node]
            out[node] = (out[a] * cover[a] + out[b] * cover[b]) / cover[node]
    return max(level for _, level in order)
