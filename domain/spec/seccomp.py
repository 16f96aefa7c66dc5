"""berth's default seccomp profile (`seccomp.json`, package data) turned into OCI shape.

The data file is loaded with `importlib.resources` (reading package data, no other I/O);
`to_oci` is pure and decides each conditional rule from the container's effective
capabilities, the host architecture (Go's names: amd64, arm64, ...) and kernel version.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from functools import cache
from importlib import resources
from typing import Any

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"


@cache
def _default_text() -> str:
    return resources.files(__package__).joinpath("seccomp.json").read_text(encoding="utf-8")


def load_default_profile() -> dict[str, Any]:
    """A fresh parsed copy of berth's default profile data."""
    profile: dict[str, Any] = json.loads(_default_text())
    return profile


def _condition_holds(
    cond: Mapping[str, Any], caps: Collection[str], arch: str, kernel: tuple[int, int] | None
) -> tuple[bool, bool]:
    """(every part holds, any part holds), over the caps, arches and minKernel given."""
    results: list[bool] = []
    if "caps" in cond:
        wanted = cond["caps"]
        results.append(all(c in caps for c in wanted))
        any_cap = any(c in caps for c in wanted)
    else:
        any_cap = False
    if "arches" in cond:
        results.append(arch in cond["arches"])
    if "minKernel" in cond:
        major, minor = cond["minKernel"]
        results.append(kernel is None or kernel >= (major, minor))
    arch_hit = "arches" in cond and arch in cond["arches"]
    return all(results), any_cap or arch_hit


def _applies(
    rule: Mapping[str, Any], caps: Collection[str], arch: str, kernel: tuple[int, int] | None
) -> bool:
    # moby's Filter semantics: Includes needs all of its caps, one of its arches and the
    # kernel version; Excludes removes the rule when any of its caps or arches matches.
    if "when" in rule and not _condition_holds(rule["when"], caps, arch, kernel)[0]:
        return False
    return not ("unless" in rule and _condition_holds(rule["unless"], caps, arch, kernel)[1])


def _socket_rules(domains: list[int]) -> list[dict[str, Any]]:
    """One rule per allowed family; the run from AF_UNIX up becomes one `<` comparison.

    runc ORs comparisons on the same argument, so a bounded range cannot be one rule.
    """
    domains = sorted(set(domains))
    rules: list[dict[str, Any]] = []
    start = 0
    if len(domains) > 1 and domains[0] == 1 and domains[1] == 2:
        end = 1
        while end + 1 < len(domains) and domains[end + 1] == domains[end] + 1:
            end += 1
        rules.append(_arg_rule("socket", 0, domains[end] + 1, "SCMP_CMP_LT"))
        start = end + 1
    rules.extend(_arg_rule("socket", 0, d, "SCMP_CMP_EQ") for d in domains[start:])
    return rules


def _arg_rule(name: str, index: int, value: int, op: str, value_two: int = 0) -> dict[str, Any]:
    arg = {"index": index, "value": value, "valueTwo": value_two, "op": op}
    return {"names": [name], "action": ALLOW, "args": [arg]}


def to_oci(
    profile: Mapping[str, Any],
    capabilities: Collection[str],
    arch: str = "amd64",
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI `linux.seccomp` object for a process with these effective capabilities."""
    errnos: Mapping[str, int] = profile["errnos"]
    syscalls: list[dict[str, Any]] = []
    for rule in profile["rules"]:
        if not _applies(rule, capabilities, arch, kernel):
            continue
        if "errno" in rule:
            syscalls.append(
                {"names": list(rule["names"]), "action": ERRNO, "errnoRet": errnos[rule["errno"]]}
            )
        elif "argEqualsAny" in rule:
            spec = rule["argEqualsAny"]
            for name in rule["allow"]:
                syscalls.extend(
                    _arg_rule(name, spec["index"], v, "SCMP_CMP_EQ") for v in spec["values"]
                )
        elif "argMaskedZero" in rule:
            spec = rule["argMaskedZero"]
            for name in rule["allow"]:
                syscalls.append(
                    _arg_rule(name, spec["index"], spec["mask"], "SCMP_CMP_MASKED_EQ", 0)
                )
        else:
            syscalls.append({"names": list(rule["allow"]), "action": ALLOW})
    syscalls.extend(_socket_rules(list(profile["socketDomains"]["allowed"])))
    return {
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": errnos[profile["defaultErrno"]],
        "architectures": list(profile["architectures"].get(arch, [])),
        "syscalls": syscalls,
    }
