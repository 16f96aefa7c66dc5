"""The compiled seccomp programs kept on disk (adapters/runc/seccomp_bundle.py): compiled
once and reused; compiled again when the profile, the capabilities, the architecture,
libseccomp or the kernel's x32 ABI changes (ADR/0040)."""

from __future__ import annotations

import base64
import json
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from berth.adapters import seccomp
from berth.adapters.runc import seccomp_bundle
from berth.adapters.runc.seccomp_bundle import ANNOTATION, SeccompCache
from berth.domain.spec.defaults import DEFAULT_CAPABILITIES
from berth.domain.spec.seccomp import load_default_profile, to_oci

pytestmark = pytest.mark.skipif(
    not Path("/usr/lib/x86_64-linux-gnu/libseccomp.so.2").exists(), reason="libseccomp"
)


def oci(caps: tuple[str, ...] = DEFAULT_CAPABILITIES, arch: str = "amd64") -> dict[str, Any]:
    return to_oci(load_default_profile(), caps, arch)


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Each profile the cache compiles (it compiles for real)."""
    seen: list[dict[str, Any]] = []

    def counting(profile: dict[str, Any]) -> bytes:
        seen.append(profile)
        return seccomp.compile_seccomp(profile)

    monkeypatch.setattr(seccomp_bundle, "compile_seccomp", counting)
    return seen


def test_a_program_is_compiled_once_and_read_back(
    tmp_path: Path, compiled: list[dict[str, Any]]
) -> None:
    cache = SeccompCache(tmp_path / "cache")
    first = cache.program(oci())
    assert SeccompCache(tmp_path / "cache").program(oci()) == first  # a new engine reads it
    assert len(compiled) == 1
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".bpf"]
    assert len(first) % 8 == 0  # whole struct sock_filter instructions
    assert first == seccomp.compile_seccomp(oci())


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(lambda: oci((*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN")), id="capabilities"),
        pytest.param(lambda: oci(arch="arm64"), id="architecture"),
        pytest.param(lambda: {**oci(), "defaultErrnoRet": 38}, id="profile"),
    ],
)
def test_another_profile_is_compiled_anew(
    tmp_path: Path, compiled: list[dict[str, Any]], other: Any
) -> None:
    cache = SeccompCache(tmp_path)
    cache.program(oci())
    cache.program(other())
    assert len(compiled) == 2
    assert len(list(tmp_path.glob("*.bpf"))) == 2


@pytest.mark.parametrize("change", ["libseccomp", "x32"])
def test_another_libseccomp_or_kernel_abi_compiles_anew(
    tmp_path: Path, compiled: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    cache = SeccompCache(tmp_path)
    cache.program(oci())
    if change == "libseccomp":
        monkeypatch.setattr(seccomp_bundle, "libseccomp_version", lambda: "9.9.9")
    else:
        has = seccomp.kernel_has_x32()
        monkeypatch.setattr(seccomp_bundle, "kernel_has_x32", lambda: not has)
    cache.program(oci())
    assert len(compiled) == 2


def test_the_program_goes_in_the_bundle_and_linux_seccomp_stays(tmp_path: Path) -> None:
    spec = {"process": {"args": ["true"]}, "linux": {"seccomp": oci()}}
    (tmp_path / "config.json").write_text(json.dumps(spec))
    cache = SeccompCache(tmp_path / "cache")
    assert cache.annotate_bundle(tmp_path) is True
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["linux"]["seccomp"] == spec["linux"]["seccomp"]  # for runc
    program = base64.b64decode(written["annotations"][ANNOTATION])
    assert program == cache.program(oci())
    assert cache.annotate_bundle(tmp_path) is False  # already there


def test_the_stub_answers_enosys_above_the_highest_syscall_of_each_architecture() -> None:
    highest = {"SCMP_ARCH_X86_64": 456, "SCMP_ARCH_X86": 450}
    stub = seccomp.enosys_stub(highest)
    code = [struct.unpack("=HBBI", stub[i : i + 8]) for i in range(0, len(stub), 8)]
    assert (seccomp.JGT_K, 456) in [(op, k) for op, _, _, k in code]
    assert (seccomp.JGT_K, 450) in [(op, k) for op, _, _, k in code]
    assert code[-1] == (seccomp.RET_K, 0, 0, seccomp.RET_ERRNO | 38)
    for at, (op, when_true, when_false, k) in enumerate(code):
        target = at + 1 + (k if op == seccomp.JA else max(when_true, when_false))
        assert target <= len(code)  # every jump lands in the stub or just after it


def _at_once(cache: SeccompCache, starts: int) -> tuple[list[bytes], list[BaseException]]:
    """`starts` threads asking `cache` for the same program at the same moment."""
    ready = threading.Barrier(starts)
    programs: list[bytes] = []
    failures: list[BaseException] = []

    def start() -> None:
        ready.wait()
        try:
            programs.append(cache.program(oci()))
        except BaseException as error:  # reported by the caller's assert
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(starts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return programs, failures


def test_containers_starting_at_once_compile_the_program_once(
    tmp_path: Path, compiled: list[dict[str, Any]]
) -> None:
    """`compose up --scale api=3` starts three containers at once in one berthd: each
    start's worker thread asks for the same program on an empty cache."""
    for round_ in range(5):
        cache = SeccompCache(tmp_path / f"cache-{round_}")
        programs, failures = _at_once(cache, 6)
        assert failures == []
        assert len(programs) == 6 and len(set(programs)) == 1
        assert sorted(p.suffix for p in cache.directory.iterdir()) == [".bpf"]
    assert len(compiled) == 5  # once per empty cache
