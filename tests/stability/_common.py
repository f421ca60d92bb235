"""Helpers shared by the stability tests: seeded generators, LIME-like problems, images."""

import numpy as np


def _top_set(c, k, k_b):
    order = np.argsort(-np.abs(c[:k_b]), kind="stable")
    return set(order[:k].tolist())
