"""pytest plugin loaded (``-p``) into each run of MotorNet's test suite by ``tests/test_motornet_suite.py``.

With ``MOTORNET_SUITE_TARGET=motornet_fn`` it is the import shim: ``motornet`` and ``motornet.<module>``
are bound to ``motornet_fn`` and its modules in ``sys.modules`` when the plugin is imported, which pytest
does before it imports any conftest or test module. In both runs it records every test's outcome, the
collection errors and which package ``motornet`` resolved to, as JSON in ``MOTORNET_SUITE_REPORT``.
"""
import importlib
import json
import os
import sys

import torch

MODULES = ("muscle", "skeleton", "effector", "environment", "policy", "plotor")
TARGET = os.environ.get("MOTORNET_SUITE_TARGET", "motornet")

if TARGET == "motornet_fn":
    import motornet_fn

    sys.modules["motornet"] = motornet_fn
    for _name in MODULES:
        sys.modules[f"motornet.{_name}"] = importlib.import_module(f"motornet_fn.{_name}")
elif TARGET != "motornet":
    raise ValueError(f"MOTORNET_SUITE_TARGET must be 'motornet' or 'motornet_fn', not {TARGET!r}")

# the tests' tensors are tiny: extra intra-op threads only add contention
torch.set_num_threads(1)

_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "failed": 2, "error": 3}
_outcomes: dict = {}
_messages: dict = {}
_collect_errors: dict = {}


def _message(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    return crash.message if crash is not None else str(report.longrepr)[-1000:]


def pytest_runtest_logreport(report):
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
        _messages[report.nodeid] = f"{report.when}: {_message(report)}"
    elif report.skipped:
        outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
    else:
        outcome = "passed"
    previous = _outcomes.get(report.nodeid, "passed")
    _outcomes[report.nodeid] = max(previous, outcome, key=_RANK.__getitem__)


def pytest_collectreport(report):
    if report.failed:
        _collect_errors[report.nodeid] = str(report.longrepr)[-2000:]


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("MOTORNET_SUITE_REPORT")
    if not path:
        return
    module = sys.modules.get("motornet")
    resolved = None if module is None else {
        "name": module.__name__, "file": getattr(module, "__file__", None),
        "version": getattr(module, "__version__", None)}
    modules = {name: mod.__name__ for name, mod in list(sys.modules.items())
               if (name == "motornet" or name.startswith("motornet.")) and mod is not None}
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"target": TARGET, "motornet": resolved, "modules": modules,
                   "outcomes": _outcomes, "messages": _messages, "collect_errors": _collect_errors,
                   "exitstatus": int(exitstatus)}, f, indent=1)
