"""The tidy Table: construction checks, CSV round trip, concat, grouped means against hand-computed values."""
from __future__ import annotations

import builtins
import csv
import math

import numpy as np
import pytest
import torch

from motornet_fn.analysis.table import Table


def small() -> Table:
    return Table({"target": [0, 1, 0, 1, 1], "condition": ["a", "a", "b", "b", "b"],
                  "speed": torch.tensor([0.4, 0.2, 0.6, 0.3, 0.7], dtype=torch.float64),
                  "moved": np.array([True, True, True, False, True])})


def test_columns_keep_their_order_and_values():
    t = small()
    assert t.columns == ("target", "condition", "speed", "moved") and len(t) == 5
    assert isinstance(t["speed"], np.ndarray) and t["speed"][2] == 0.6
    assert "speed" in t and "nope" not in t
    assert t.rows()[1] == {"target": 1, "condition": "a", "speed": 0.2, "moved": True}
    assert t.to_dict()["condition"] == ["a", "a", "b", "b", "b"]
    assert len(Table()) == 0 and Table().columns == ()


@pytest.mark.parametrize("columns, match", [
    ({"a": [1, 2], "b": [1, 2, 3]}, r"same length, got lengths \{'a': 2, 'b': 3\}"),
    ({"a": [[1, 2], [3, 4]]}, r"column 'a' must be 1-D, got shape \(2, 2\)"),
    ({"a": 3.0}, r"column 'a' must be 1-D, got shape \(\)"),
    ({1: [1]}, "column names must be str"),
])
def test_bad_columns_raise(columns, match):
    with pytest.raises(ValueError, match=match):
        Table(columns)


def test_unknown_column_names_the_known_ones():
    with pytest.raises(KeyError, match=r"no column 'nope'; columns are \['target'"):
        small()["nope"]


def test_csv_round_trip(tmp_path):
    t = small()
    path = t.to_csv(tmp_path / "t.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(t.columns)
    assert len(rows) == 1 + len(t)
    assert [int(r[0]) for r in rows[1:]] == list(t["target"])
    assert [r[1] for r in rows[1:]] == list(t["condition"])
    assert [float(r[2]) for r in rows[1:]] == list(t["speed"])  # full precision
    assert [r[3] == "True" for r in rows[1:]] == list(t["moved"])


def test_concat_stacks_rows_and_checks_columns():
    t = small()
    both = Table.concat([t, t])
    assert len(both) == 10 and both.columns == t.columns
    assert list(both["speed"][5:]) == list(t["speed"])
    reordered = Table({name: t[name] for name in reversed(t.columns)})
    assert Table.concat([t, reordered]).columns == t.columns
    with pytest.raises(ValueError, match=r"tables\[1\] has columns \['target'\]"):
        Table.concat([t, Table({"target": [1]})])
    with pytest.raises(ValueError, match="at least one table"):
        Table.concat([])


def test_group_mean_by_one_and_two_columns():
    t = small()
    by_target = t.group_mean(by=["target"], columns=["speed"])
    assert by_target.columns == ("target", "n", "speed_mean", "speed_std")
    assert list(by_target["target"]) == [0, 1] and list(by_target["n"]) == [2, 3]
    assert np.allclose(by_target["speed_mean"], [0.5, 0.4])
    assert np.allclose(by_target["speed_std"], [math.sqrt(0.02), math.sqrt(0.07)])  # sample std, ddof 1
    assert np.allclose(t.group_mean(by=["target"], columns=["speed"], ddof=0)["speed_std"], [0.1, math.sqrt(0.14 / 3)])

    both = t.group_mean(by=["condition", "target"], columns=["speed"])
    assert list(zip(both["condition"], both["target"])) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert np.allclose(both["speed_mean"], [0.4, 0.2, 0.6, 0.5])
    assert np.isnan(both["speed_std"][0]) and np.isclose(both["speed_std"][3], math.sqrt(0.08))


def test_group_mean_defaults_and_where():
    t = small()
    overall = t.group_mean()  # every numeric / boolean column, one group
    assert overall.columns == ("n", "target_mean", "target_std", "speed_mean", "speed_std", "moved_mean", "moved_std")
    assert np.isclose(overall["moved_mean"][0], 0.8)
    counted = t.group_mean(by=["target"], columns=["speed"], where="moved")
    assert list(counted["n"]) == [2, 2] and np.allclose(counted["speed_mean"], [0.5, 0.45])
    none = t.group_mean(by=["target"], columns=["speed"], where=np.zeros(5, dtype=bool))
    assert list(none["n"]) == [0, 0] and np.isnan(none["speed_mean"]).all()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"by": ["nope"]}, KeyError, "no column 'nope'"),
    ({"columns": ["condition"]}, ValueError, "column 'condition' is not numeric"),
    ({"where": "speed"}, ValueError, "where must be a boolean column of length 5"),
    ({"where": np.ones(3, dtype=bool)}, ValueError, "where must be a boolean column"),
])
def test_group_mean_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        small().group_mean(**kwargs)


def test_to_dataframe_without_pandas_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match="pip install pandas"):
        small().to_dataframe()


def test_to_dataframe_with_pandas():
    pandas = pytest.importorskip("pandas")
    frame = small().to_dataframe()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == list(small().columns) and frame["speed"].tolist() == list(small()["speed"])
