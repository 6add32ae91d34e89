"""Collaborative-filtering item models over integer user/item positions (numpy + scipy), one
model per file, all behind one small contract (``ItemModel``):

* fit: a ``fit_*`` function next to its model turns interactions into a fitted model;
* ``scores(items, weights=None)``: the whole catalogue scored from a history of item
  positions, a dense float32 ``(n_items,)``;
* ``similar(item, k)``: the item's ``k`` nearest items (never itself), best first.

Models: ``ItemNeighbors`` (sparse item->item weights: item-kNN and co-visitation in
``neighbors.py``, pruned EASE), ``EaseModel`` (``ease.py``) and ``AlsModel`` (``als.py``,
implicit ALS with least-squares fold-in for users unseen at training time). Every one runs
the shared contract suite in ``tests/contracts/test_cf_models.py``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class ItemModel(Protocol):
    @property
    def n_items(self) -> int: ...

    def scores(self, items: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Dense float32 ``(n_items,)`` scores of every item for a history."""
        ...

    def similar(self, item: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(items int64, scores float32) of the ``k`` items nearest ``item``, best first."""
        ...
