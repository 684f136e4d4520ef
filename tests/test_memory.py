"""motornet_fn.memory: the allocator setting applies on Linux (checked in a child process, since it is
process-wide)."""
import subprocess
import sys

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_retain_freed_memory_applies_on_linux():
    code = "from motornet_fn.memory import retain_freed_memory as r; print(r(), r(64 << 20))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_retain_freed_memory_is_a_no_op_elsewhere(monkeypatch):
    from motornet_fn import memory

    monkeypatch.setattr(memory.sys, "platform", "darwin")
    assert memory.retain_freed_memory() is False
