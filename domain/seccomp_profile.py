"""A user's seccomp profile in Docker's format (`--security-opt seccomp=<profile.json>`,
whose text the client sends) turned into OCI `linux.seccomp`, as moby's setupSeccomp.

Pure: the container's bounding capabilities, the host's architecture (Go's names) and
kernel version decide each rule's `includes`/`excludes`, as for berth's own profile.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from .errors import InvalidParameter

#: Go's GOARCH names as libseccomp names them (moby's goArchToSeccompArch).
SECCOMP_ARCHES = {
    "amd64": "SCMP_ARCH_X86_64", "386": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X",
    "mips64le": "SCMP_ARCH_MIPSEL64", "riscv64": "SCMP_ARCH_RISCV64",
}  # fmt: skip
_PASSED_ON = ("defaultErrnoRet", "listenerPath", "listenerMetadata", "flags")


def parse_profile(text: str) -> dict[str, Any]:
    """The profile's JSON, checked as dockerd checks it when it loads one."""
    try:
        profile = json.loads(text)
    except ValueError as error:
        raise InvalidParameter(f"Decoding seccomp profile failed: {error}") from None
    if not isinstance(profile, dict):
        raise InvalidParameter("Decoding seccomp profile failed: not a JSON object")
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidParameter(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, use "
            "either 'architectures' or 'archMap'"
        )
    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list) or not all(isinstance(c, dict) for c in syscalls):
        raise InvalidParameter("Decoding seccomp profile failed: syscalls must be a list")
    for call in syscalls:
        if call.get("name") and call.get("names"):
            raise InvalidParameter("use either 'name' or 'names'")
    return profile


def _kernel_at_least(text: object, kernel: tuple[int, int] | None) -> bool | None:
    """Whether the kernel is at least `text` ("4.8"); None if either is unknown."""
    try:
        major, minor = (int(part) for part in str(text).split(".")[:2])
    except ValueError:
        raise InvalidParameter(f"invalid minKernel {text!r} in the seccomp profile") from None
    return None if kernel is None else kernel >= (major, minor)


def _kept(
    call: Mapping[str, Any], caps: Collection[str], arch: str, kernel: tuple[int, int] | None
) -> bool:
    """moby's filter: any excluded arch, cap or kernel drops the rule; every included cap,
    one included arch and the included kernel keep it."""
    excludes, includes = call.get("excludes") or {}, call.get("includes") or {}
    if arch in (excludes.get("arches") or ()) or any(
        c in caps for c in excludes.get("caps") or ()
    ):
        return False
    if excludes.get("minKernel") and _kernel_at_least(excludes["minKernel"], kernel):
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if any(c not in caps for c in includes.get("caps") or ()):
        return False
    return not (
        includes.get("minKernel") and _kernel_at_least(includes["minKernel"], kernel) is False
    )


def profile_to_oci(
    text: str,
    capabilities: Collection[str],
    arch: str = "amd64",
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """The OCI `linux.seccomp` of a Docker profile; None when it has neither a default
    action nor a syscall (moby's "assume seccomp disabled")."""
    profile = parse_profile(text)
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    seccomp_arch = SECCOMP_ARCHES.get(arch, arch)
    architectures = list(profile.get("architectures") or ())
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == seccomp_arch:
            architectures += [entry["architecture"], *(entry.get("subArchitectures") or ())]
    oci: dict[str, Any] = {"defaultAction": profile.get("defaultAction", "")}
    if architectures:
        oci["architectures"] = architectures
    oci.update({k: profile[k] for k in _PASSED_ON if profile.get(k) is not None})
    syscalls = []
    for call in profile.get("syscalls") or ():
        if not _kept(call, capabilities, seccomp_arch, kernel):
            continue
        names = [call["name"]] if call.get("name") else list(call.get("names") or ())
        rule: dict[str, Any] = {"names": names, "action": call.get("action", "")}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            rule["args"] = [dict(arg) for arg in call["args"]]
        syscalls.append(rule)
    oci["syscalls"] = syscalls
    return oci
