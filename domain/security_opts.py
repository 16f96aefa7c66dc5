"""HostConfig.SecurityOpt read as dockerd's `parseSecurityOpt` reads it.

One parse for both places that need it: create refuses what berth does not carry out
(settings_support), the spec builder applies the rest (seccomp on or off,
no-new-privileges).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidParameter
from .seccomp_profile import parse_profile

# strconv.ParseBool's spellings.
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
# What berth does anyway: no AppArmor profile, no SELinux labels, its own seccomp profile
# (dockerd's "builtin" names the default one).
_DEFAULT_SECCOMP = ("", "builtin")


@dataclass(frozen=True)
class SecurityOptions:
    seccomp: str = ""  # "" or "builtin": the default profile; "unconfined": none; else JSON
    apparmor: str = ""
    labels: tuple[str, ...] = ()
    # Off by default, as dockerd's and podman's: setuid binaries and file capabilities
    # (su, sudo, ping as a user) work as in Docker; `no-new-privileges` turns it on.
    no_new_privileges: bool = False
    writable_cgroups: bool = False

    @property
    def custom_seccomp(self) -> str:
        """A profile of the user's, in Docker's format (the client sends its text); ""."""
        return "" if self.seccomp in (*_DEFAULT_SECCOMP, "unconfined") else self.seccomp

    def unapplied(self) -> str | None:
        """The first option berth would not carry out, as the user wrote its kind, or None."""
        if self.apparmor not in ("", "unconfined"):
            return f"apparmor={self.apparmor}"
        for label in self.labels:
            if label != "disable":
                return f"label={label}"
        if self.writable_cgroups:
            return "writable-cgroups"
        return None


def _parse_bool(text: str, opt: str) -> bool:
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(f'invalid --security-opt 2: "{opt}"')


def parse_security_opts(opts: Iterable[str]) -> SecurityOptions:
    """dockerd's parse, with its messages for what it refuses itself."""
    profiles = {"seccomp": "", "apparmor": ""}
    flags = {"no-new-privileges": SecurityOptions.no_new_privileges, "writable-cgroups": False}
    labels: list[str] = []
    for opt in opts:
        if opt in flags:
            flags[opt] = True
            continue
        if opt == "disable":
            labels.append("disable")
            continue
        separator = "=" if "=" in opt else ":"
        key, found, value = opt.partition(separator)
        if not found:
            raise InvalidParameter(f'invalid --security-opt 1: "{opt}"')
        if key == "label":
            labels.append(value)
        elif key in profiles:
            profiles[key] = value
        elif key in flags:
            flags[key] = _parse_bool(value, opt)
        else:
            raise InvalidParameter(f'invalid --security-opt 2: "{opt}"')
    options = SecurityOptions(
        seccomp=profiles["seccomp"],
        apparmor=profiles["apparmor"],
        labels=tuple(labels),
        no_new_privileges=flags["no-new-privileges"],
        writable_cgroups=flags["writable-cgroups"],
    )
    if options.custom_seccomp:
        parse_profile(options.custom_seccomp)  # refused at create, not found at start
    return options


def seccomp_on(options: SecurityOptions) -> bool:
    return options.seccomp != "unconfined"
