"""Create-request strings that end up in a file, a kernel call or an exec: refused unless valid.

berth writes `Dns`, `DnsSearch`, `DnsOptions`, `ExtraHosts` and `Hostname` into the
container's resolv.conf, hosts and hostname files, and passes `Env`, `Cmd`, `User`,
paths and names to runc. A newline there would add lines of the client's choosing to
those files; a NUL cannot be passed to the kernel at all. dockerd refuses what its opts
validators refuse (`ValidateIPAddress`, `ValidateDNSSearch`, `ValidateExtraHost`); berth
applies them to the API's values too, and refuses whitespace and control characters
where the file format has no room for them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .config import Config, HostConfig
from .errors import InvalidParameter
from .settings_rules import go_quote, is_ip_address, split_extra_host, validate_extra_host

# opts.validateDomain's two expressions (Go's `\s` is ASCII whitespace); the trailing
# whitespace Go allows is refused by _no_space first.
_ALPHA = re.compile(r"[a-zA-Z]")
_LABEL = r"(?:[a-zA-Z0-9]|(?:[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
MAX_DOMAIN = 255
# The kernel's HOST_NAME_MAX: sethostname and setdomainname refuse longer names.
MAX_HOSTNAME = 64
_HOSTNAME = re.compile(r"[A-Za-z0-9_.-]+")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def _no_space(value: str) -> bool:
    return _CONTROL_OR_SPACE.search(value) is None


def validate_dns_server(entry: str) -> None:
    """`opts.ValidateIPAddress`: a nameserver is an IP address."""
    if not _no_space(entry) or not is_ip_address(entry):
        raise InvalidParameter(f"{entry} is not an ip address")


def validate_dns_search(entry: str) -> None:
    """`opts.ValidateDNSSearch`: a domain name, or `.` for none."""
    if entry == ".":
        return
    valid = (
        _no_space(entry)
        and _ALPHA.search(entry) is not None
        and _DOMAIN.fullmatch(entry) is not None
        and len(entry.rstrip(".")) < MAX_DOMAIN
    )
    if not valid:
        raise InvalidParameter(f"{entry} is not a valid domain")


def validate_dns_option(entry: str) -> None:
    """A resolv.conf option (`ndots:2`, `rotate`): one word, nothing else on the line."""
    if not entry or not _no_space(entry):
        raise InvalidParameter(f"invalid DNS option: {go_quote(entry)}")


def validate_hosts_entry(entry: str) -> None:
    """`opts.ValidateExtraHost`, and a host name that is one word of the hosts file."""
    validate_extra_host(entry)
    if not _no_space(split_extra_host(entry)[0]):
        raise InvalidParameter(f"bad format for add-host: {go_quote(entry)}")


def validate_hostname(field: str, value: str) -> None:
    """A host or domain name the kernel takes and /etc/hosts holds as one word."""
    if value and (len(value) > MAX_HOSTNAME or not _HOSTNAME.fullmatch(value)):
        raise InvalidParameter(
            f"invalid {field} {go_quote(value)}: at most {MAX_HOSTNAME} letters, digits, "
            "'.', '-' or '_'"
        )


def _refuse_nul(field: str, values: Iterable[str]) -> None:
    for value in values:
        if "\x00" in value:
            raise InvalidParameter(f"invalid {field} {go_quote(value)}: contains a NUL character")


def check_file_values(config: Config, hc: HostConfig) -> None:
    """Every value berth writes into a file or hands to the kernel, checked before create."""
    for server in hc.dns or ():
        validate_dns_server(server)
    for domain in hc.dns_search or ():
        validate_dns_search(domain)
    for option in hc.dns_options or ():
        validate_dns_option(option)
    for host in hc.extra_hosts or ():
        validate_hosts_entry(host)
    validate_hostname("Hostname", config.hostname)
    validate_hostname("Domainname", config.domainname)
    _refuse_nul("Env", config.env or ())
    _refuse_nul("Cmd", config.cmd or ())
    _refuse_nul("Entrypoint", config.entrypoint or ())
    _refuse_nul("WorkingDir", (config.working_dir,))
    _refuse_nul("User", (config.user,))
    _refuse_nul("Binds", hc.binds or ())
    _refuse_nul("Tmpfs", [*hc.tmpfs, *hc.tmpfs.values()])
    _refuse_nul("Mounts", [part for m in hc.mounts for part in (m.source, m.target)])
