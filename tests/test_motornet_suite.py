"""MotorNet 0.3.0's own test suite, run against MotorNet and against motornet_fn.

MotorNet's sdist ships its ``tests/`` without the ``conftest.py`` that defines their fixtures; ours is
``tests/motornet_suite/suite_conftest.py``. At test time the sdist is fetched with pip (or taken from a
cached, hash-checked copy), its tests are laid out with our conftest as ``tests/conftest.py``, and pytest
runs them twice in subprocesses: against the installed ``motornet`` (the baseline, which validates the
conftest) and through an import shim (``tests/motornet_suite/suite_plugin.py``) that maps ``motornet``
and its modules to ``motornet_fn``. Every test that passes on MotorNet must pass on motornet_fn, except
the deliberate differences listed in ``EXPECTED_DIFFERENCES``, which must fail, and exactly those.

Skipped where MotorNet 0.3.0 is not installed or its sdist cannot be downloaded (set
``MOTORNET_FN_REQUIRE_SUITE=1`` to make that a failure, ``MOTORNET_SDIST=path`` to use a local sdist).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path, PurePosixPath

import pytest

pytestmark = pytest.mark.slow

VERSION = "0.3.0"
SDIST = f"motornet-{VERSION}.tar.gz"
#: sha256 of PyPI's motornet-0.3.0.tar.gz
SDIST_SHA256 = "e758a9f013a811cbc8f836abd96fc32d593a7d551cb58bfcc1dfb0d00858acd4"
TEST_FILES = ("test_construction.py", "test_effector.py", "test_environment.py", "test_muscle.py",
              "test_simulation.py", "test_skeleton.py")
SUITE_DATA = Path(__file__).parent / "motornet_suite"
RUN_TIMEOUT_S = 900

#: MotorNet tests that fail on MotorNet 0.3.0 itself (its own bugs), node id -> why. They are not
#: required on motornet_fn; a test listed here that passes on motornet_fn belongs in FIXED_ON_PURPOSE.
MOTORNET_FAILURES: dict[str, str] = {}

#: MotorNet tests that fail on MotorNet but pass on motornet_fn because we fixed the bug, node id -> bug.
FIXED_ON_PURPOSE: dict[str, str] = {}

#: MotorNet tests that pass on MotorNet and fail on motornet_fn because of a documented deliberate
#: difference (README, "where we differ on purpose"), node id -> the difference. Currently none: the
#: differences are opt-in (``rk4-classic``, the exact TwoDofArm path velocities) or are subclasses /
#: supersets of MotorNet's behaviour that its tests accept (error types, the extra config key, finite
#: gradients).
EXPECTED_DIFFERENCES: dict[str, str] = {}


# --------------------------------------------------------------------------------------- the sdist
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unavailable(reason: str):
    if os.environ.get("MOTORNET_FN_REQUIRE_SUITE") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _cache_dir(config) -> Path:
    cache = getattr(config, "cache", None)  # absent under -p no:cacheprovider
    if cache is not None:
        return Path(cache.mkdir("motornet_sdist"))
    path = Path(tempfile.gettempdir()) / "motornet_fn-cache" / "motornet_sdist"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pip_download(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "--timeout", "30", "--retries", "2", "-d", str(dest),
           f"motornet=={VERSION}"]
    if importlib.util.find_spec("setuptools") is not None:
        # pip prepares the sdist's metadata; with setuptools at hand that takes seconds, not ~30 s
        cmd.insert(cmd.index("-d"), "--no-build-isolation")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        _unavailable(f"pip download motornet=={VERSION} timed out: the package index is not reachable")
    path = dest / SDIST
    if proc.returncode != 0 or not path.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        _unavailable(f"could not download MotorNet {VERSION}'s sdist with pip (exit {proc.returncode}); "
                     f"is the package index reachable?\n{tail}")
    return path


def _sdist(config) -> Path:
    """The hash-checked sdist: $MOTORNET_SDIST, else a cached copy, else downloaded into the cache."""
    local = os.environ.get("MOTORNET_SDIST")
    if local:
        path = Path(local)
        assert path.is_file() and _sha256(path) == SDIST_SHA256, f"$MOTORNET_SDIST={local} is not {SDIST}"
        return path
    cached = _cache_dir(config) / SDIST
    if cached.is_file() and _sha256(cached) == SDIST_SHA256:
        return cached
    with tempfile.TemporaryDirectory() as tmp:
        downloaded = _pip_download(Path(tmp))
        digest = _sha256(downloaded)
        assert digest == SDIST_SHA256, f"downloaded {SDIST} has sha256 {digest}, expected {SDIST_SHA256}"
        partial = cached.with_suffix(".partial")
        shutil.copyfile(downloaded, partial)
        os.replace(partial, cached)
    return cached


def _lay_out(sdist: Path, root: Path) -> None:
    """root/tests: MotorNet's test modules, our conftest and an __init__ (they import tests.conftest);
    root/pytest.ini pins the rootdir; root/_plugin holds the shim/recorder plugin."""
    tests = root / "tests"
    tests.mkdir()
    folder = PurePosixPath(f"motornet-{VERSION}/tests")
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name)
            if member.isfile() and name.parent == folder and name.suffix == ".py":
                (tests / name.name).write_bytes(tar.extractfile(member).read())
    found = sorted(p.name for p in tests.glob("*.py"))
    assert found == sorted(TEST_FILES), f"{SDIST} holds tests {found}, expected {sorted(TEST_FILES)}"
    shutil.copyfile(SUITE_DATA / "suite_conftest.py", tests / "conftest.py")
    (tests / "__init__.py").write_text("")
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "_plugin").mkdir()
    shutil.copyfile(SUITE_DATA / "suite_plugin.py", root / "_plugin" / "motornet_suite_plugin.py")


# ------------------------------------------------------------------------------------------ the runs
def _start(root: Path, target: str) -> tuple[subprocess.Popen, Path]:
    report = root / f"report-{target}.json"
    package_root = str(Path(importlib.util.find_spec("motornet_fn").origin).parents[1])
    pythonpath = [str(root / "_plugin"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)),
                  package_root]
    env = {**os.environ, "MOTORNET_SUITE_TARGET": target, "MOTORNET_SUITE_REPORT": str(report),
           "PYTHONPATH": os.pathsep.join(pythonpath), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "motornet_suite_plugin",
           "--rootdir", str(root), "-c", str(root / "pytest.ini"), "tests"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    return proc, report


def _finish(proc: subprocess.Popen, report: Path, target: str) -> dict:
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        pytest.fail(f"MotorNet's suite on {target} ran past {RUN_TIMEOUT_S} s:\n{output[-3000:]}")
    assert report.is_file(), f"MotorNet's suite on {target} wrote no report:\n{output[-3000:]}"
    result = json.loads(report.read_text())
    result["output"] = output
    return result


class _Summary:
    """Prints the counts in pytest's terminal summary (test output is otherwise captured)."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_sep("-", "MotorNet 0.3.0's test suite")
        for line in self.lines:
            terminalreporter.write_line(line)


def _passed(run: dict) -> set[str]:
    return {node for node, outcome in run["outcomes"].items() if outcome == "passed"}


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory) -> dict:
    try:
        installed = importlib.metadata.version("motornet")
    except importlib.metadata.PackageNotFoundError:
        _unavailable("MotorNet is not installed (it is in the 'test' extra): no baseline to compare with")
    if installed != VERSION:
        _unavailable(f"MotorNet {installed} is installed; this suite is MotorNet {VERSION}'s")
    root = tmp_path_factory.mktemp("motornet_suite")
    _lay_out(_sdist(request.config), root)
    start = time.perf_counter()
    # both runs at once: one thread each, so two cores take half the wall time of one
    started = {target: _start(root, target) for target in ("motornet", "motornet_fn")}
    result = {target: _finish(proc, report, target) for target, (proc, report) in started.items()}
    wall = time.perf_counter() - start
    base, ours = result["motornet"], result["motornet_fn"]
    lines = [f"{len(run['outcomes'])} tests; {len(_passed(run))} passed on {name}"
             for name, run in (("MotorNet", base), ("motornet_fn", ours))]
    lines += [f"expected differences: {len(EXPECTED_DIFFERENCES)}; fixed on purpose: {len(FIXED_ON_PURPOSE)};"
              f" both runs {wall:.0f} s"]
    request.config.pluginmanager.register(_Summary(lines), "motornet_suite_summary")
    return result


def _describe(run: dict, nodes) -> str:
    return "\n".join(f"  {node}: {run['outcomes'].get(node, 'not collected')}: "
                     f"{run['messages'].get(node, '')}" for node in sorted(nodes))


def test_baseline_is_motornet_and_our_conftest_makes_its_suite_pass(runs):
    base = runs["motornet"]
    assert base["motornet"]["name"] == "motornet" and base["motornet"]["version"] == VERSION, base["motornet"]
    assert "motornet_fn" not in (base["motornet"]["file"] or "")
    assert not base["collect_errors"], base["collect_errors"]
    assert len(base["outcomes"]) >= 300, base["output"][-3000:]
    failing = set(base["outcomes"]) - _passed(base)
    assert failing == set(MOTORNET_FAILURES), (
        f"on MotorNet itself, expected to fail {sorted(MOTORNET_FAILURES)}, got:\n{_describe(base, failing)}")


def test_the_shim_runs_the_suite_on_motornet_fn_only(runs):
    ours = runs["motornet_fn"]
    assert ours["motornet"]["name"] == "motornet_fn", ours["motornet"]
    foreign = {name: module for name, module in ours["modules"].items()
               if not module.startswith("motornet_fn")}
    assert not foreign, f"modules of the real MotorNet were imported in the motornet_fn run: {foreign}"
    assert not ours["collect_errors"], ours["collect_errors"]
    assert set(ours["outcomes"]) == set(runs["motornet"]["outcomes"]), "the runs collected different tests"


def test_every_test_that_passes_on_motornet_passes_on_motornet_fn(runs):
    base, ours = runs["motornet"], runs["motornet_fn"]
    broken = _passed(base) - _passed(ours)
    unexpected = broken - set(EXPECTED_DIFFERENCES)
    assert not unexpected, f"pass on MotorNet, not on motornet_fn:\n{_describe(ours, unexpected)}"
    assert broken == set(EXPECTED_DIFFERENCES), (
        "EXPECTED_DIFFERENCES that no longer differ (remove them): "
        f"{sorted(set(EXPECTED_DIFFERENCES) - broken)}")


def test_tests_that_fail_on_motornet_are_the_bugs_we_fixed_on_purpose(runs):
    base, ours = runs["motornet"], runs["motornet_fn"]
    fixed = _passed(ours) - _passed(base)
    assert fixed == set(FIXED_ON_PURPOSE), (
        f"pass on motornet_fn but not on MotorNet (list them in FIXED_ON_PURPOSE with the bug):\n"
        f"{_describe(base, fixed - set(FIXED_ON_PURPOSE))}\nlisted but not fixed: "
        f"{sorted(set(FIXED_ON_PURPOSE) - fixed)}")
