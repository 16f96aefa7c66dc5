"""An OCI `linux.seccomp` compiled to the BPF program the kernel loads, with libseccomp
(through ctypes, as runc links it) and runc's ENOSYS stub in front (ADR/0040).

runc compiles the profile on every start (17-30 ms for Docker's, three architectures);
crun takes the compiled program in its `run.oci.seccomp_bpf_data` annotation, so berth
compiles it once and keeps it (seccomp_cache.py). The program must answer what runc's
does: libseccomp's filter gives the profile's errno (EPERM) to every syscall the profile
does not allow, a syscall newer than the profile included, where runc prepends a stub
(libcontainer/seccomp/patchbpf) that answers ENOSYS to a syscall number above the
highest one the profile names for its architecture, so that a C library falls back to
an older call. The x32 ABI is left out where the kernel has none (probed once).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from berth.domain.errors import BerthError

#: seccomp_data: the syscall number, then the audit architecture (include/uapi/linux/seccomp.h).
NR_OFFSET, ARCH_OFFSET = 0, 4
X32_SYSCALL_BIT = 0x40000000
#: classic BPF opcodes (include/uapi/linux/filter.h).
LD_W_ABS, JA, JEQ_K, JGT_K, JSET_K, RET_K = 0x20, 0x05, 0x15, 0x25, 0x45, 0x06
RET_ERRNO = 0x00050000
#: libseccomp's actions (seccomp.h) and comparisons (enum scmp_compare).
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
ERRNO_ACTION = "SCMP_ACT_ERRNO"
COMPARISONS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
X32 = "SCMP_ARCH_X32"


class SeccompError(BerthError):
    """libseccomp is missing or refused the profile."""

    http_status = 500


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


@cache
def _lib() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as missing:
        raise SeccompError(f"libseccomp is not installed: {missing}") from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)
    ]  # fmt: skip
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_version.restype = ctypes.POINTER(_Version)
    return lib


def libseccomp_version() -> str:
    found = _lib().seccomp_version().contents
    return f"{found.major}.{found.minor}.{found.micro}"


@cache
def kernel_has_x32() -> bool:
    """Whether the kernel runs x32 syscalls: an x32 getpid answers, or ENOSYS."""
    if os.uname().machine != "x86_64":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.syscall(ctypes.c_long(X32_SYSCALL_BIT | 39))) >= 0


def architectures(seccomp: Mapping[str, Any]) -> list[str]:
    """The profile's architectures this kernel has (x32 only where it runs x32)."""
    names = list(seccomp.get("architectures") or [])
    return [name for name in names if name != X32 or kernel_has_x32()]


def _arch_token(name: str) -> int:
    token = int(_lib().seccomp_arch_resolve_name(name.removeprefix("SCMP_ARCH_").lower().encode()))
    if token == 0:
        raise SeccompError(f"unknown seccomp architecture {name}")
    return token


def _action(name: str, errno_ret: int | None, default_errno: int) -> int:
    if name == ERRNO_ACTION:
        return RET_ERRNO | ((default_errno if errno_ret is None else errno_ret) & 0xFFFF)
    if name not in ACTIONS:
        raise SeccompError(f"seccomp action {name} is not supported")
    return ACTIONS[name]


def _arg_sets(args: list[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """runc's reading of a rule's arguments: all together (ANDed), or, where two compare
    the same argument, one rule each (ORed)."""
    indexes = [int(a["index"]) for a in args]
    return [args] if len(set(indexes)) == len(indexes) else [[a] for a in args]


@dataclass(frozen=True, slots=True)
class _Filter:
    ctx: int

    def add(self, action: int, nr: int, args: list[Mapping[str, Any]]) -> None:
        array = (_ArgCmp * max(1, len(args)))(*[
            _ArgCmp(int(a["index"]), COMPARISONS[a["op"]], int(a.get("value", 0)),
                    int(a.get("valueTwo", 0)))
            for a in args
        ])  # fmt: skip
        code = _lib().seccomp_rule_add_array(self.ctx, action, nr, len(args), array)
        if code < 0:
            raise SeccompError(f"seccomp rule for syscall {nr}: {os.strerror(-code)}")


def _libseccomp_program(seccomp: Mapping[str, Any], arches: list[str]) -> bytes:
    lib = _lib()
    default_errno = int(seccomp.get("defaultErrnoRet") or errno.EPERM)
    default = _action(str(seccomp["defaultAction"]), None, default_errno)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise SeccompError("seccomp_init failed")
    try:
        for name in arches:
            code = lib.seccomp_arch_add(ctx, _arch_token(name))
            if code < 0 and code != -errno.EEXIST:
                raise SeccompError(f"seccomp architecture {name}: {os.strerror(-code)}")
        rules = _Filter(ctx)
        for rule in seccomp.get("syscalls") or []:
            action = _action(str(rule["action"]), rule.get("errnoRet"), default_errno)
            if action == default:
                continue  # libseccomp refuses a rule that changes nothing; runc skips it
            for name in rule["names"]:
                nr = int(lib.seccomp_syscall_resolve_name(name.encode()))
                if nr == -1:  # __NR_SCMP_ERROR: unknown to libseccomp, as runc ignores it
                    continue
                for args in _arg_sets(list(rule.get("args") or [])):
                    rules.add(action, nr, args)
        read_end, write_end = os.pipe()
        try:
            code = lib.seccomp_export_bpf(ctx, write_end)
            os.close(write_end)
            write_end = -1
            if code < 0:
                raise SeccompError(f"seccomp_export_bpf: {os.strerror(-code)}")
            chunks = []
            while chunk := os.read(read_end, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
    finally:
        lib.seccomp_release(ctx)


def highest_syscalls(seccomp: Mapping[str, Any], arches: list[str]) -> dict[str, int]:
    """For each architecture, the highest syscall number the profile names."""
    lib = _lib()
    names = {n for rule in seccomp.get("syscalls") or [] for n in rule["names"]}
    found: dict[str, int] = {}
    for arch in arches:
        token = _arch_token(arch)
        numbers = [lib.seccomp_syscall_resolve_name_arch(token, n.encode()) for n in names]
        known = [int(n) for n in numbers if n >= 0]
        if known:
            found[arch] = max(known)
    return found


def enosys_stub(highest: Mapping[str, int]) -> bytes:
    """runc's stub: a syscall above the highest the profile names for its architecture
    answers ENOSYS; anything else goes on to libseccomp's program, which follows it."""
    # (code, jump-if-true label, jump-if-false label, k); labels resolve below.
    code: list[tuple[int, str, str, int | str]] = [(LD_W_ABS, "", "", ARCH_OFFSET)]
    native = [arch for arch in highest if arch != X32]
    code += [(JEQ_K, arch, "", _arch_token(arch)) for arch in native]
    code.append((JA, "", "", "end"))
    labels: dict[str, int] = {}
    for arch in native:
        labels[arch] = len(code)
        code.append((LD_W_ABS, "", "", NR_OFFSET))
        if arch == "SCMP_ARCH_X86_64":
            # x32 calls come with x86-64's audit arch and the x32 bit in the number.
            code.append((JSET_K, X32 if X32 in highest else "end", "", X32_SYSCALL_BIT))
        code.append((JGT_K, "enosys", "end", highest[arch]))
    if X32 in highest:
        labels[X32] = len(code)
        code.append((JGT_K, "enosys", "end", highest[X32]))
    labels["enosys"] = len(code)
    code.append((RET_K, "", "", RET_ERRNO | errno.ENOSYS))
    labels["end"] = len(code)

    def offset(at: int, label: str) -> int:
        return labels[label] - at - 1 if label else 0

    program = bytearray()
    for at, (op, when_true, when_false, k) in enumerate(code):
        if isinstance(k, str):  # an unconditional jump's target is its k
            k = offset(at, k)
        program += struct.pack("=HBBI", op, offset(at, when_true), offset(at, when_false), k)
    return bytes(program)


def compile_seccomp(seccomp: Mapping[str, Any]) -> bytes:
    """The BPF program (struct sock_filter[], native byte order) for `linux.seccomp`."""
    arches = architectures(seccomp)
    main = _libseccomp_program(seccomp, arches)
    return enosys_stub(highest_syscalls(seccomp, arches)) + main
