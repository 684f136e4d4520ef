"""A small tidy table: named, ordered columns of equal-length 1-D numpy arrays.

One row per observation (a trial, a fixed point, a group), one column per variable, so results
write straight to CSV and convert to a pandas DataFrame when pandas is installed (it is optional).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


def _as_column(name: Any, values: Any) -> np.ndarray:
    """Validate one column and return it as a 1-D numpy array."""
    if not isinstance(name, str):
        raise ValueError(f"column names must be str, got {name!r}")
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-D, got shape {array.shape}")
    return array


class Table:
    """Ordered named columns of equal length (a tidy data table).

    Args:
        columns: mapping column name -> 1-D values (numpy array, list or torch tensor). Order is kept.

    Raises:
        ValueError: a column is not 1-D, the columns differ in length, or a name is not a str.

    Example:
        >>> t = Table({"target": [0, 0, 1], "speed": [0.4, 0.5, 0.3]})
        >>> t.group_mean(by=["target"])["speed_mean"]
        array([0.45, 0.3 ])
    """

    def __init__(self, columns: Mapping[str, Any] | None = None):
        columns = {} if columns is None else columns
        self._columns = {name: _as_column(name, values) for name, values in columns.items()}
        lengths = {name: len(a) for name, a in self._columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns must all have the same length, got lengths {lengths}")

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(self._columns)

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()))) if self._columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._columns:
            raise KeyError(f"no column {name!r}; columns are {list(self._columns)}")
        return self._columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __repr__(self) -> str:
        return f"Table({len(self)} rows; columns {list(self._columns)})"

    def rows(self) -> list[dict[str, Any]]:
        """One dict (column name -> Python scalar) per row."""
        lists = self.to_dict()
        return [dict(zip(lists, values)) for values in zip(*lists.values())]

    def to_dict(self) -> dict[str, list]:
        """Column name -> list of Python scalars (JSON-serialisable for numbers, bools and str)."""
        return {name: array.tolist() for name, array in self._columns.items()}

    def to_csv(self, path: str | Path) -> Path:
        """Write a CSV file with a header row; floats keep full precision. Returns the path."""
        path = Path(path)
        lists = self.to_dict()
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(lists)
            writer.writerows(zip(*lists.values()))
        return path

    def to_dataframe(self):
        """The table as a ``pandas.DataFrame`` (pandas is imported here, only when asked for).

        Raises:
            ImportError: pandas is not installed.
        """
        try:
            import pandas
        except ImportError as error:
            raise ImportError("Table.to_dataframe needs pandas, which is not installed: "
                              "python -m pip install pandas") from error
        return pandas.DataFrame(dict(self._columns))

    @staticmethod
    def concat(tables: Sequence["Table"]) -> "Table":
        """Stack the rows of tables that have the same columns (in the first table's order).

        Raises:
            ValueError: ``tables`` is empty, or the tables' column names differ.
        """
        tables = list(tables)
        if not tables:
            raise ValueError("Table.concat needs at least one table, got none")
        names = tables[0].columns
        for k, table in enumerate(tables[1:], start=1):
            if set(table.columns) != set(names):
                raise ValueError(f"tables[{k}] has columns {list(table.columns)}, expected {list(names)}")
        return Table({n: np.concatenate([t[n] for t in tables]) for n in names})

    def group_mean(self, by: Iterable[str] = (), columns: Iterable[str] | None = None,
                   where: str | np.ndarray | None = None, ddof: int = 1) -> "Table":
        """Per-group mean and standard deviation of numeric columns.

        Groups are the distinct combinations of the ``by`` columns, sorted by value. Each group's row
        holds its ``by`` values, ``n`` (the rows counted) and ``<column>_mean``, ``<column>_std``
        for every column. A group with ``n <= ddof`` counted rows has std NaN (and mean NaN if
        ``n == 0``): there is no data to estimate them from.

        Args:
            by: the grouping columns; empty gives one row over the whole table.
            columns: the columns to average; default every numeric or boolean column not in ``by``.
            where: only count the rows where this boolean column (name or array) is True; groups
                are still formed over all rows, so groups where nothing is counted keep their row.
            ddof: delta degrees of freedom of the std (1: sample std, as pandas; 0: population std).

        Raises:
            KeyError: an unknown column name.
            ValueError: a column to average is not numeric, or ``where`` is not boolean of the table's length.
        """
        by = list(by)
        for name in by:
            self[name]  # KeyError naming the column
        numeric = lambda name: np.issubdtype(self[name].dtype, np.number) or self[name].dtype == bool  # noqa: E731
        columns = [c for c in self.columns if c not in by and numeric(c)] if columns is None else list(columns)
        for name in columns:
            if not numeric(name):
                raise ValueError(f"column {name!r} is not numeric (dtype {self[name].dtype}); "
                                 f"put it in `by` or leave it out of `columns`")
        keep = np.ones(len(self), dtype=bool) if where is None else np.asarray(
            self[where] if isinstance(where, str) else where)
        if keep.dtype != bool or keep.shape != (len(self),):
            raise ValueError(f"where must be a boolean column of length {len(self)}, "
                             f"got dtype {keep.dtype} shape {keep.shape}")

        codes = np.zeros(len(self), dtype=np.int64)
        for name in by:  # combine per-column codes lexicographically, so groups sort by value
            values, inverse = np.unique(self[name], return_inverse=True)
            codes = np.unique(codes * len(values) + inverse.reshape(-1), return_inverse=True)[1].reshape(-1)
        groups, first_row, group_of_row = np.unique(codes, return_index=True, return_inverse=True)
        group_of_row = group_of_row.reshape(-1)
        out = {name: self[name][first_row] for name in by}
        n = np.bincount(group_of_row, weights=keep, minlength=len(groups))
        out["n"] = n.astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            for name in columns:
                x = np.where(keep, self[name].astype(np.float64), 0.0)
                total = np.bincount(group_of_row, weights=x, minlength=len(groups))
                mean = total / n
                dev = np.where(keep, x - mean[group_of_row], 0.0)
                ss = np.bincount(group_of_row, weights=dev * dev, minlength=len(groups))
                out[f"{name}_mean"] = mean
                out[f"{name}_std"] = np.where(n > ddof, np.sqrt(ss / (n - ddof)), np.nan)
        return Table(out)


__all__ = ["Table"]
