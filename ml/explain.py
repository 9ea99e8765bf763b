"""Per-feature contributions of a LightGBM booster to its raw (log-odds) score.

Two methods, both additive (a row's contributions plus the bias equal its raw score):

* ``saabas`` (the default): each tree's score is the root's value plus, along
  the row's root-to-leaf path, ``value(child) - value(node)`` credited to the
  node's split feature (LightGBM's ``internal_value``/``leaf_value`` from
  ``booster.dump_model()``). Those path sums depend on the leaf only, so they
  are precomputed once per model as a (leaves x features) table per tree,
  and consecutive trees' tables are combined into one per group of trees. A
  row's contributions are then its leaf in every tree (LightGBM's
  ``pred_leaf``, found by walking the trees in numpy a block of rows at a
  time) and one table lookup per group, summed in float32. The same leaves
  give the raw score exactly, so probability and reasons come from one pass:
  about as cheap as a prediction, and every customer gets reasons.
* ``treeshap``: LightGBM's exact TreeSHAP (``pred_contrib=True``), which also
  credits features for the splits a row did *not* go through. Its cost grows
  with the trees' depth: 5-11x the CPU of Saabas on the platform's depth-2
  models, ~0.2 ms a row (200 s a million) on depth-5 trees. For audits and
  short lists, not the whole book.

The two usually name the same top feature; they differ where a feature's
effect depends on others (the order of splits matters to Saabas).
"""

from __future__ import annotations

import numpy as np

SAABAS = "saabas"
TREESHAP = "treeshap"
METHODS: tuple[str, ...] = (SAABAS, TREESHAP)
# Trees are looked up in groups whose combined leaf count stays below this:
# one gather per group instead of one per tree, with a table that stays in cache.
GROUP_TABLE_ROWS = 1024
# Rows summed at a time: the (rows x features) float32 accumulator stays in cache.
BLOCK_ROWS = 4096
# Rows whose leaves are found at a time (bounds the filled column copies and group rows).
LEAF_BLOCK_ROWS = 16_384
INFINITE_THRESHOLD = 1e300
# LightGBM reads |x| <= kZeroThreshold (1e-35 as a float32) as zero.
ZERO_THRESHOLD = float(np.float32(1e-35))


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"contribution method {method!r} is not one of {', '.join(METHODS)}")
    return method


def _path_tables(tree: dict, n_features: int) -> tuple[np.ndarray, np.ndarray, float]:
    """One dumped tree as (leaf x feature path contributions, leaf values, root value)."""
    root = tree["tree_structure"]
    leaf_values = np.zeros(tree["num_leaves"])
    table = np.zeros((tree["num_leaves"], n_features))
    if "leaf_value" in root:  # a tree without a split: all of it is bias
        leaf_values[0] = root["leaf_value"]
        return table, leaf_values, float(root["leaf_value"])
    pending = [(root, np.zeros(n_features))]
    while pending:
        node, path = pending.pop()
        for side in ("left_child", "right_child"):
            child = node[side]
            is_leaf = "leaf_index" in child
            value = child["leaf_value"] if is_leaf else child["internal_value"]
            contribution = path.copy()
            contribution[node["split_feature"]] += value - node["internal_value"]
            if is_leaf:
                table[child["leaf_index"]] = contribution
                leaf_values[child["leaf_index"]] = value
            else:
                pending.append((child, contribution))
    return table, leaf_values, float(root["internal_value"])


def _column_key(node: dict) -> tuple[int, str]:
    """The split feature and how its column is filled so that ``x <= threshold`` decides.

    LightGBM's numerical decision: with missing type ``NaN`` a missing value takes
    the learnt default direction; with ``None`` it counts as 0.0; with ``Zero``,
    0.0 and missing both take the default direction. Filling the column
    accordingly (-inf always goes left; NaN compares False, so goes right)
    leaves one comparison per node.
    """
    feature, missing_type, default_left = node["split_feature"], node["missing_type"], node["default_left"]
    if missing_type == "NaN":
        return feature, ("missing_left" if default_left else "as_is")
    if missing_type == "Zero":
        return feature, ("zero_left" if default_left else "zero_right")
    return feature, "missing_is_zero"


def _fill(column: np.ndarray, how: str) -> np.ndarray:
    if how == "as_is":
        return column
    missing = np.isnan(column)
    if how == "missing_left":
        return np.where(missing, -np.inf, column)
    if how == "missing_is_zero":
        return np.where(missing, 0.0, column)
    zero = missing | (column == 0.0)
    return np.where(zero, -np.inf if how == "zero_left" else np.nan, column)


def _compile(node: dict, weight: int):
    """A dumped (sub)tree as nested ``(column key, threshold, left, right)`` tuples ending in
    ``leaf index * weight``; None if it has a categorical split."""
    if "leaf_index" in node:
        return np.int32(node["leaf_index"] * weight)
    if "split_feature" not in node:  # a tree without a split
        return np.int32(0)
    if node["decision_type"] != "<=":
        return None
    left, right = _compile(node["left_child"], weight), _compile(node["right_child"], weight)
    if left is None or right is None:
        return None
    # The dump writes an infinite threshold as +-1e300.
    threshold = (
        node["threshold"] if abs(node["threshold"]) < INFINITE_THRESHOLD else np.sign(node["threshold"]) * np.inf
    )
    return (_column_key(node), threshold, left, right)


def _leaf_of(node, columns: dict):
    """``leaf index * weight`` of every row (a scalar for a tree without a split)."""
    if not isinstance(node, tuple):
        return node
    key, threshold, left, right = node
    return np.where(columns[key] <= threshold, _leaf_of(left, columns), _leaf_of(right, columns))


def _column_keys(node) -> set:
    return _column_keys(node[2]) | _column_keys(node[3]) | {node[0]} if isinstance(node, tuple) else set()


class SaabasExplainer:
    """Saabas contributions of a booster, precomputed per leaf and looked up per row.

    ``explain(matrix)`` returns the raw scores (float64, LightGBM's ``raw_score``
    prediction rebuilt from the leaves) and the contributions (float32, rows x
    features), with ``contributions.sum(axis=1) + bias == raw score``.
    """

    def __init__(self, booster, num_threads: int = 0):
        self.booster = booster
        self.num_threads = num_threads
        dump = booster.dump_model()
        self.feature_names = list(dump["feature_names"])
        n_features = len(self.feature_names)
        trees = [_path_tables(tree, n_features) for tree in dump["tree_info"]]
        self.bias = float(sum(root for _, _, root in trees))
        self.leaf_counts = [len(table) for table, _, _ in trees]
        # Consecutive trees are grouped; a group's tables hold the summed path
        # contributions (float32) and leaf values (float64, for the exact raw
        # score) of every combination of its trees' leaves.
        self.groups: list[tuple[range, np.ndarray, np.ndarray, np.ndarray]] = []
        start = 0
        while start < len(trees):
            stop, combinations = start + 1, len(trees[start][0])
            while stop < len(trees) and combinations * len(trees[stop][0]) <= GROUP_TABLE_ROWS:
                combinations *= len(trees[stop][0])
                stop += 1
            contributions, values = np.zeros((1, n_features)), np.zeros(1)
            for table, leaf_values, _ in trees[start:stop]:
                contributions = (contributions[:, None, :] + table[None, :, :]).reshape(-1, n_features)
                values = (values[:, None] + leaf_values[None, :]).reshape(-1)
            # Row of a leaf combination in the group's tables: mixed radix, first tree most significant.
            sizes = [len(table) for table, _, _ in trees[start:stop]]
            radix = np.cumprod([1, *sizes[:0:-1]])[::-1].astype(np.int32)
            self.groups.append((range(start, stop), radix, contributions.astype(np.float32), values))
            start = stop
        # Numerical trees are walked in numpy, a tree at a time for a block of rows
        # (several times faster than LightGBM's row-by-row pred_leaf output for
        # shallow trees); each leaf index comes premultiplied by its tree's radix,
        # so a group's table row is a plain sum. A categorical split: LightGBM's leaves.
        compiled = [
            _compile(tree["tree_structure"], int(weight))
            for (_, radix, _, _), tree_infos in zip(self.groups, self._by_group(dump["tree_info"]))
            for weight, tree in zip(radix, tree_infos)
        ]
        self.trees = None if any(tree is None for tree in compiled) else compiled
        self.column_keys = sorted(set().union(*map(_column_keys, compiled))) if self.trees else []

    def _by_group(self, items: list) -> list[list]:
        return [items[trees.start : trees.stop] for trees, _, _, _ in self.groups]

    def _group_rows(self, matrix: np.ndarray) -> list[np.ndarray]:
        """Each group's table row for every row of ``matrix`` (one array, or a scalar, per group)."""
        if self.trees is None:
            leaves = self.booster.predict(matrix, pred_leaf=True, num_threads=self.num_threads)
            leaves = np.asarray(leaves, dtype=np.int32).reshape(len(matrix), -1)
            return [leaves[:, trees] @ radix for trees, radix, _, _ in self.groups]
        # LightGBM reads a tiny |x| as 0.0 (a sparse zero) before any split.
        matrix = np.where(np.abs(matrix) <= ZERO_THRESHOLD, 0.0, matrix)
        columns = {
            (feature, how): _fill(np.ascontiguousarray(matrix[:, feature]), how) for feature, how in self.column_keys
        }
        rows = []
        for trees in self._by_group(self.trees):
            row = _leaf_of(trees[0], columns)
            for tree in trees[1:]:
                row = row + _leaf_of(tree, columns)
            rows.append(row)
        return rows

    def leaves(self, matrix: np.ndarray) -> np.ndarray:
        """Leaf index of every row in every tree, shape (rows, trees), as LightGBM's ``pred_leaf``."""
        rows = [np.broadcast_to(row, len(matrix)) for row in self._group_rows(matrix)]
        leaves = [
            (row // weight) % self.leaf_counts[tree]
            for row, (trees, radix, _, _) in zip(rows, self.groups)
            for tree, weight in zip(trees, radix)
        ]
        return np.column_stack(leaves) if leaves else np.zeros((len(matrix), 0), dtype=np.int32)

    def explain(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(raw scores, contributions)`` of a feature matrix, one leaf-index pass per block of rows."""
        raw = np.zeros(len(matrix))
        contributions = np.empty((len(matrix), len(self.feature_names)), dtype=np.float32)
        for start in range(0, len(matrix), LEAF_BLOCK_ROWS):
            block = matrix[start : start + LEAF_BLOCK_ROWS]
            rows = [np.broadcast_to(row, len(block)) for row in self._group_rows(block)]
            for offset in range(0, len(block), BLOCK_ROWS):
                part = slice(offset, offset + BLOCK_ROWS)
                total = np.zeros((len(block[part]), contributions.shape[1]), dtype=np.float32)
                score = raw[start + offset : start + offset + len(total)]
                for row, (_, _, table, values) in zip(rows, self.groups):
                    total += table[row[part]]
                    score += values[row[part]]
                contributions[start + offset : start + offset + len(total)] = total
        return raw, contributions


def treeshap_contributions(booster, matrix: np.ndarray, num_threads: int = 0) -> np.ndarray:
    """Exact TreeSHAP contributions (rows x features + 1, bias last) from LightGBM."""
    return booster.predict(matrix, pred_contrib=True, num_threads=num_threads)
