"""lazy_module: bound without importing, imported once at the first attribute read."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from berth.adapters.lazy_modules import lazy_module


@pytest.fixture
def module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of its own on sys.path, counting how often it is executed."""
    name = f"lazy_probe_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(
        "import builtins\n"
        "builtins.lazy_probe_runs = getattr(builtins, 'lazy_probe_runs', 0) + 1\n"
        "ANSWER = 42\n"
        "def double(x):\n    return 2 * x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("builtins.lazy_probe_runs", 0, raising=False)
    yield name
    sys.modules.pop(name, None)


def test_binding_imports_nothing_until_an_attribute_is_read(module_name: str) -> None:
    import builtins

    probe = lazy_module(module_name)
    assert module_name not in sys.modules
    assert probe.ANSWER == 42
    assert module_name in sys.modules
    assert probe.double(21) == 42
    assert builtins.lazy_probe_runs == 1  # type: ignore[attr-defined]


def test_a_missing_attribute_is_an_attribute_error(module_name: str) -> None:
    with pytest.raises(AttributeError, match="nothing_here"):
        _ = lazy_module(module_name).nothing_here


def test_a_missing_module_fails_at_first_use_not_at_binding() -> None:
    probe = lazy_module(f"no_such_module_{uuid.uuid4().hex}")
    with pytest.raises(ModuleNotFoundError):
        _ = probe.anything


def test_threads_racing_on_first_use_import_it_once(module_name: str) -> None:
    import builtins

    probe = lazy_module(module_name)
    barrier = threading.Barrier(8)
    answers: list[int] = []

    def read() -> None:
        barrier.wait()
        answers.append(probe.ANSWER)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [42] * 8
    assert builtins.lazy_probe_runs == 1  # type: ignore[attr-defined]


def test_httpx_in_use_loads_no_command_line_libraries() -> None:
    """A registry client made (as at a pull) loads neither click, rich nor pygments, which
    httpx's own command line client imports when they are installed (they are here: the
    `berth` CLI's)."""
    probe = (
        "import sys\n"
        "from berth.adapters.lazy_modules import lazy_module\n"
        "httpx = lazy_module('httpx')\n"
        "httpx.AsyncClient(verify=False)\n"
        "print(sorted(m for m in ('click', 'rich', 'pygments') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
