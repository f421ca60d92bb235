"""Tables as users hold them: tensors, numpy arrays, pandas DataFrames, scipy.sparse rows.

:func:`training_table` turns training data into (M, D) numbers and, for a DataFrame, an
:class:`Encoding`: the column names, and for every categorical column (a pandas
``category``, ``object``, ``string`` or ``bool`` column) its categories, a row's code being
the category's position. :func:`table_rows` turns rows to explain, given any of the same
ways, into (B, D) numbers with that encoding. pandas and scipy are never imported here:
their objects are recognised by what they offer.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["Encoding", "table_rows", "training_table"]


class Encoding(NamedTuple):
    """How a DataFrame's columns become numbers."""

    columns: list[str]
    """The D column names, in order."""
    categories: dict[int, list[Any]]
    """Per categorical column, its categories: a value's code is its position."""


def training_table(data: Any, name: str = "training_data") -> tuple[Tensor, Encoding | None]:
    """(M, D) training rows as numbers, and a DataFrame's encoding (None otherwise).

    A tensor is returned as it is; a numpy array (or anything ``np.asarray`` takes) becomes
    a tensor of its numbers; scipy.sparse rows are densified.
    """
    if _is_frame(data):
        columns = [str(c) for c in data.columns]
        categories, codes = {}, []
        for j, column in enumerate(data.columns):
            series = data[column]
            found = _categories(series)
            if found is None:
                codes.append(_numeric(series, name, columns[j]))
            else:
                categories[j] = found
                codes.append(_codes(series, found, name, columns[j]))
        return torch.as_tensor(np.stack(codes, 1)), Encoding(columns, categories)
    return _numbers(data, name), None


def table_rows(data: Any, encoding: Encoding | None, d: int, name: str = "x") -> Any:
    """Rows to explain as numbers, as the training data was given.

    A DataFrame (or one row, a Series) goes through ``encoding``; scipy.sparse or numpy
    rows become a tensor (one row of D values becomes (1, D)); a tensor, or anything else,
    is returned as given (the explainer's checks name what is wrong).
    """
    if _is_series(data):
        data = data.to_frame().T
    if _is_frame(data):
        if encoding is None:
            return _numbers(data.to_numpy(), name)
        missing = [c for c in encoding.columns if c not in {str(k) for k in data.columns}]
        if missing:
            raise ValueError(f"{name} lacks the training data's columns {missing}")
        by_name = {str(k): k for k in data.columns}
        codes = []
        for j, column in enumerate(encoding.columns):
            series = data[by_name[column]]
            if j in encoding.categories:
                codes.append(_codes(series, encoding.categories[j], name, column))
            else:
                codes.append(_numeric(series, name, column))
        return torch.as_tensor(np.stack(codes, 1))
    if isinstance(data, Tensor) or data is None:
        return data
    if _is_sparse(data) or isinstance(data, (np.ndarray, list)):
        rows = _numbers(data, name)
        return rows[None] if rows.ndim == 1 and rows.shape[0] == d else rows
    return data


# --------------------------------------------------------------------------- helpers


def _is_frame(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "columns")


def _is_series(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "to_frame")


def _is_sparse(data: Any) -> bool:
    return type(data).__module__.startswith("scipy.sparse") and hasattr(data, "toarray")


def _numbers(data: Any, name: str) -> Tensor:
    if isinstance(data, Tensor):
        return data
    if _is_sparse(data):
        data = data.toarray()
    array = np.asarray(data)
    if array.dtype == bool:
        array = array.astype(np.float64)
    if not array.flags.writeable:  # a DataFrame's view: torch wants memory it may own
        array = array.copy()
    if not (np.issubdtype(array.dtype, np.number)):
        raise TypeError(
            f"{name} must hold numbers; got an array of {array.dtype} (a DataFrame names "
            "its categorical columns itself: pass the DataFrame)"
        )
    return torch.as_tensor(array)


def _categories(series: Any) -> list[Any] | None:
    """A column's categories if it is categorical (category, object, string, bool)."""
    dtype = series.dtype
    kind = getattr(dtype, "name", str(dtype))
    if kind == "category":
        return list(dtype.categories)
    if kind == "bool" or kind == "boolean":
        return [False, True]
    if kind in ("object", "string", "str") or kind.startswith("string"):
        values = series.dropna().unique().tolist()
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))
    return None


def _codes(series: Any, categories: list[Any], name: str, column: str) -> np.ndarray:
    if bool(series.isna().any()):
        raise ValueError(f"{name} column {column!r} has missing values (categorical columns)")
    position = {value: code for code, value in enumerate(categories)}
    values = series.tolist()
    unknown = [v for v in values if v not in position]
    if unknown:
        raise ValueError(
            f"{name} column {column!r} has categories never seen in training: "
            f"{sorted({str(v) for v in unknown})[:5]} (known: {[str(c) for c in categories]})"
        )
    return np.array([position[v] for v in values], dtype=np.float64)


def _numeric(series: Any, name: str, column: str) -> np.ndarray:
    try:
        return series.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} column {column!r} is not numeric: {error}") from None
