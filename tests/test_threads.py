"""Importing motornet_fn puts torch on one CPU thread unless MOTORNET_FN_THREADS says otherwise."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("MOTORNET_FN_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def threads_after_import(before: int, **env: str) -> subprocess.CompletedProcess:
    """Run a fresh Python that sets torch to ``before`` threads, imports motornet_fn and prints the count."""
    clean = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    code = (f"import torch; torch.set_num_threads({before}); import motornet_fn; "
            f"print(torch.get_num_threads())")
    return subprocess.run([sys.executable, "-c", code], env={**clean, "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=300)


def test_import_sets_one_thread_unless_told_to_leave_torch_alone():
    assert threads_after_import(3).stdout.split() == ["1"]
    assert threads_after_import(3, MOTORNET_FN_THREADS="torch").stdout.split() == ["3"]


def test_a_bad_variable_fails_the_import_with_its_name():
    result = threads_after_import(3, MOTORNET_FN_THREADS="two")
    assert result.returncode != 0
    assert "MOTORNET_FN_THREADS must be an integer >= 1 or 'torch', got 'two'" in result.stderr


@pytest.mark.parametrize("env, expected", [
    ({}, 1),
    ({"MOTORNET_FN_THREADS": "4"}, 4),
    ({"MOTORNET_FN_THREADS": " Torch "}, None),
    ({"OMP_NUM_THREADS": "3"}, None),  # torch already follows it
    ({"MKL_NUM_THREADS": "3", "MOTORNET_FN_THREADS": "2"}, 2),
])
def test_the_rule(env, expected):
    from motornet_fn.threads import configured_threads

    assert configured_threads(env) == expected


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "all"])
def test_bad_values_are_refused(value):
    from motornet_fn.threads import configured_threads

    with pytest.raises(ValueError, match=f"got '{value}'"):
        configured_threads({"MOTORNET_FN_THREADS": value})


def test_apply_sets_torch_and_leaves_it_when_asked():
    import torch

    from motornet_fn.threads import apply

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert apply({"MOTORNET_FN_THREADS": "torch"}) == 2
        assert apply({}) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
