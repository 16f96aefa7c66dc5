"""The files a container's network gives it: /etc/hosts, /etc/hostname, /etc/resolv.conf.

As dockerd, berth writes them in the container's directory and bind-mounts them over the
image's files. resolv.conf starts from the host's; nameservers on loopback are dropped
because a container's own namespace cannot reach the host's loopback. Unlike dockerd,
no public resolver is put in their place: berth sends nothing beyond the host.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import InvalidParameter
from .settings_rules import split_extra_host

LOCALHOST_LINES = (
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
)


def hosts_file(hostname: str, address: str | None, extra_hosts: Sequence[str] = ()) -> str:
    lines = list(LOCALHOST_LINES)
    for entry in extra_hosts:
        name, ip = split_extra_host(entry)
        if not name or not ip:
            raise InvalidParameter(f"invalid extra host {entry!r}: expected host:ip")
        lines.append(f"{ip.strip()}\t{name}")
    if address:
        lines.append(f"{address}\t{hostname}")
    return "\n".join(lines) + "\n"


def hostname_file(hostname: str) -> str:
    return hostname + "\n"


def resolv_conf(
    host_text: str,
    dns: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
    *,
    embedded: str | None = None,
) -> str:
    """The host's resolv.conf with loopback nameservers dropped; `--dns*` replace theirs.

    On a user-defined network the one nameserver is `embedded`, berth's name server on the
    network's gateway (which forwards to the host's resolvers, or to `--dns`), and, as
    dockerd writes it, `ndots:0` unless an ndots option is set."""
    kept: list[str] = []
    for raw in host_text.splitlines():
        line = raw.strip()
        words = line.split()
        if not words:
            continue
        dropped = dns or embedded or len(words) < 2 or _is_loopback(words[1])
        if words[0] == "nameserver" and dropped:
            continue
        if words[0] in ("search", "domain") and search:
            continue
        if words[0] == "options" and options:
            continue
        kept.append(line)
    kept += [f"nameserver {server}" for server in ([embedded] if embedded else dns)]
    if search:
        kept.append("search " + " ".join(search))
    if options:
        kept.append("options " + " ".join(options))
    if embedded and not any("ndots:" in line for line in kept if line.startswith("options")):
        kept.append("options ndots:0")
    return "\n".join(kept) + "\n"


def _is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"
