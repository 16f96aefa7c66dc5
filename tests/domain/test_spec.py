"""build_spec, the seccomp conversion and Docker's user resolution (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from berth.domain.config import Config, HostConfig, Ulimit
from berth.domain.errors import InvalidParameter
from berth.domain.settings_rules import CAPABILITIES
from berth.domain.spec import (
    HostFacts,
    ResolvedUser,
    build_spec,
    effective_capabilities,
    load_default_profile,
    resolve_user,
    to_oci,
)
from berth.domain.spec.defaults import DEFAULT_CAPABILITIES

CID = "c" * 64
DEFAULT_14 = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}  # fmt: skip
MOBY_MASKED = {
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}  # fmt: skip
MOBY_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def spec(
    cmd: tuple[str, ...] = ("sh",),
    facts: HostFacts | None = None,
    config: dict[str, Any] | None = None,
    **host: Any,
) -> dict[str, Any]:
    return build_spec(
        container_id=CID,
        config=Config(cmd=cmd, **(config or {})),
        host_config=HostConfig(**host),
        rootfs="/var/lib/berth/containers/x/rootfs",
        hostname="myhost",
        user=ResolvedUser(uid=1000, gid=1000, additional_gids=(1000, 20)),
        facts=facts,
    )


def caps_of(s: dict[str, Any]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = s["process"]["capabilities"]
    return result


def mount(s: dict[str, Any], dest: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [m for m in s["mounts"] if m["destination"] == dest]
    assert len(found) == 1
    return found[0]


def test_default_capabilities_are_dockers_14() -> None:
    caps = caps_of(spec())
    assert set(DEFAULT_CAPABILITIES) == DEFAULT_14
    assert len(caps["bounding"]) == 14
    for kind in ("bounding", "effective", "permitted"):
        assert set(caps[kind]) == DEFAULT_14
    assert "inheritable" not in caps
    assert "ambient" not in caps


def test_cap_add_and_drop() -> None:
    caps = caps_of(spec(cap_add=("net_admin",), cap_drop=("CAP_MKNOD", "NET_RAW")))
    assert set(caps["effective"]) == DEFAULT_14 - {"CAP_MKNOD", "CAP_NET_RAW"} | {"CAP_NET_ADMIN"}


def test_cap_drop_all_then_add_one() -> None:
    caps = caps_of(spec(cap_drop=("ALL",), cap_add=("CHOWN",)))
    assert caps["effective"] == ["CAP_CHOWN"]
    assert caps_of(spec(cap_drop=("ALL",)))["effective"] == []


def test_cap_add_all_minus_drop() -> None:
    caps = set(caps_of(spec(cap_add=("ALL",), cap_drop=("SYS_ADMIN",)))["effective"])
    assert caps == CAPABILITIES - {"CAP_SYS_ADMIN"}


def test_unknown_capability_is_rejected() -> None:
    with pytest.raises(InvalidParameter, match="unknown capability"):
        spec(cap_add=("BOGUS",))


def test_privileged_all_caps_no_seccomp_no_masks_all_devices() -> None:
    s = spec(privileged=True)
    assert set(caps_of(s)["effective"]) == CAPABILITIES
    assert "seccomp" not in s["linux"]
    assert "maskedPaths" not in s["linux"]
    assert "readonlyPaths" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "ro" not in mount(s, "/sys")["options"]


def test_privileged_limited_to_host_capabilities() -> None:
    held = frozenset(CAPABILITIES - {"CAP_SYS_RESOURCE"})
    s = spec(privileged=True, facts=HostFacts(capabilities=held))
    assert set(caps_of(s)["bounding"]) == held
    assert effective_capabilities(HostConfig(cap_add=("ALL",)), held) == sorted(held)


def test_masked_and_readonly_paths_are_mobys() -> None:
    s = spec()
    assert set(s["linux"]["maskedPaths"]) == MOBY_MASKED
    assert len(s["linux"]["maskedPaths"]) == len(MOBY_MASKED)
    assert s["linux"]["readonlyPaths"] == MOBY_READONLY
    per_cpu = spec(facts=HostFacts(cpus=2))["linux"]["maskedPaths"]
    assert "/sys/devices/system/cpu/cpu1/thermal_throttle" in per_cpu


def test_process_basics() -> None:
    s = spec(
        cmd=("-c", "echo hi"),
        config={
            "entrypoint": ("/bin/sh",),
            "env": ("FOO=bar", "PATH=/bin"),
            "working_dir": "/app/",
        },
    )
    p = s["process"]
    assert p["args"] == ["/bin/sh", "-c", "echo hi"]
    assert p["env"] == ["PATH=/bin", "HOSTNAME=myhost", "FOO=bar"]
    assert p["cwd"] == "/app"
    assert p["terminal"] is False
    assert p["noNewPrivileges"] is False  # dockerd's default
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 20]}
    assert s["hostname"] == "myhost"
    assert s["ociVersion"] == "1.0.2"
    assert s["root"] == {"path": "/var/lib/berth/containers/x/rootfs", "readonly": False}
    assert spec()["process"]["cwd"] == "/"
    assert spec()["process"]["env"][0].startswith("PATH=/usr/local/sbin:")


def test_image_env_is_overridden_by_container_env() -> None:
    s = build_spec(
        container_id=CID,
        config=Config(cmd=("sh",), env=("A=container",)),
        host_config=HostConfig(),
        rootfs="/r",
        hostname="h",
        user=ResolvedUser(),
        image_env=("A=image", "B=image"),
    )
    assert s["process"]["env"][2:] == ["A=container", "B=image"]


def test_no_command_and_relative_workdir_are_rejected() -> None:
    with pytest.raises(InvalidParameter, match="no command specified"):
        spec(cmd=())
    with pytest.raises(InvalidParameter, match="needs to be an absolute path"):
        spec(config={"working_dir": "app"})
    with pytest.raises(InvalidParameter):
        spec(config={"working_dir": "/proc/self/fd/7"})


def test_no_new_privileges_is_off_as_dockerds_and_on_when_asked() -> None:
    assert spec()["process"]["noNewPrivileges"] is False
    s = spec(security_opt=("no-new-privileges=false",))
    assert s["process"]["noNewPrivileges"] is False
    assert spec(security_opt=("no-new-privileges",))["process"]["noNewPrivileges"] is True
    assert spec(security_opt=("no-new-privileges=true",))["process"]["noNewPrivileges"] is True


def test_mounts() -> None:
    s = spec(shm_size=128 * 1024 * 1024)
    assert mount(s, "/proc")["type"] == "proc"
    dev = mount(s, "/dev")
    assert dev["type"] == "tmpfs"
    assert set(dev["options"]) >= {"mode=755", "size=65536k", "nosuid", "strictatime"}
    pts = mount(s, "/dev/pts")
    assert pts["type"] == "devpts"
    assert set(pts["options"]) >= {"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}
    shm = mount(s, "/dev/shm")
    assert shm["type"] == "tmpfs"
    assert set(shm["options"]) >= {"nosuid", "nodev", "noexec", f"size={128 * 1024 * 1024}"}
    assert mount(s, "/dev/mqueue")["type"] == "mqueue"
    sysfs = mount(s, "/sys")
    assert sysfs["type"] == "sysfs"
    assert {"ro", "nosuid", "noexec", "nodev"} <= set(sysfs["options"])
    cg = mount(s, "/sys/fs/cgroup")
    assert cg["type"] == "cgroup"
    assert "ro" in cg["options"]
    assert f"size={64 * 1024 * 1024}" in mount(spec(), "/dev/shm")["options"]


def test_namespaces_and_network_modes() -> None:
    types = [n["type"] for n in spec()["linux"]["namespaces"]]
    assert {"pid", "ipc", "uts", "mount", "network"} <= set(types)
    netns = build_spec(
        container_id=CID,
        config=Config(cmd=("sh",)),
        host_config=HostConfig(),
        rootfs="/r",
        hostname="h",
        user=ResolvedUser(),
        netns_path="/run/netns/berth-x",
    )["linux"]["namespaces"]
    assert {"type": "network", "path": "/run/netns/berth-x"} in netns
    host_types = [n["type"] for n in spec(network_mode="host")["linux"]["namespaces"]]
    assert "network" not in host_types and "uts" in host_types  # as dockerd 20.10's
    assert "uts" not in [n["type"] for n in spec(uts_mode="host")["linux"]["namespaces"]]
    assert {"type": "network"} in spec(network_mode="none")["linux"]["namespaces"]
    assert "cgroup" in types
    v1 = spec(facts=HostFacts(cgroup_v2=False))["linux"]["namespaces"]
    assert "cgroup" not in [n["type"] for n in v1]
    with pytest.raises(InvalidParameter):
        spec(network_mode="container:abc")


def test_a_pid_mode_of_a_container_joins_its_donors_namespace() -> None:
    joined = spec(pid_mode="container:db", facts=HostFacts(pid_donor=4242))
    assert {"type": "pid", "path": "/proc/4242/ns/pid"} in joined["linux"]["namespaces"]
    with pytest.raises(InvalidParameter):  # the donor must be found before
        spec(pid_mode="container:db")


def test_readonly_root() -> None:
    assert spec(readonly_rootfs=True)["root"]["readonly"] is True


def test_device_rules_deny_all_then_standard_devices() -> None:
    rules = spec()["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}
    allowed = {(r["type"], r["major"], r.get("minor")) for r in rules[1:]}
    assert all(r["allow"] for r in rules[1:])
    assert allowed == {
        ("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9),
        ("c", 5, 0), ("c", 5, 1), ("c", 5, 2), ("c", 136, None),
    }  # fmt: skip
    assert linux_devices_absent(spec())


def linux_devices_absent(s: dict[str, Any]) -> bool:
    return "devices" not in s["linux"]


def test_resources_mapping() -> None:
    res = spec(
        memory=256 * 1024 * 1024,
        memory_swap=-1,
        cpu_shares=512,
        nano_cpus=1_500_000_000,
        pids_limit=100,
    )["linux"]["resources"]
    assert res["memory"] == {"limit": 256 * 1024 * 1024, "swap": -1}
    assert res["cpu"] == {"shares": 512, "period": 100000, "quota": 150000}
    assert res["pids"] == {"limit": 100}
    assert spec(pids_limit=-1)["linux"]["resources"]["pids"] == {"limit": -1}
    empty = spec()["linux"]["resources"]
    assert set(empty) == {"devices"}
    quota = spec(cpu_quota=20000, cpu_period=50000)["linux"]["resources"]["cpu"]
    assert quota == {"period": 50000, "quota": 20000}
    no_swap = spec(memory=1024**3, memory_swap=2 * 1024**3, facts=HostFacts(swap_limit=False))
    assert no_swap["linux"]["resources"]["memory"] == {"limit": 1024**3}


def test_cgroups_path() -> None:
    assert spec()["linux"]["cgroupsPath"] == f"/berth/{CID}"
    assert spec(cgroup_parent="custom/")["linux"]["cgroupsPath"] == f"/custom/{CID}"


def test_nofile_rlimit_capped_by_host_hard_limit() -> None:
    capped = spec(facts=HostFacts(rlimit_hard={"RLIMIT_NOFILE": 20000}))["process"]["rlimits"]
    assert capped == [{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}]
    high = spec(facts=HostFacts(rlimit_hard={"RLIMIT_NOFILE": 4_000_000}))["process"]["rlimits"]
    assert high == [{"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 1048576}]
    user = spec(
        ulimits=(Ulimit(name="nofile", soft=50000, hard=90000),),
        facts=HostFacts(rlimit_hard={"RLIMIT_NOFILE": 60000}),
    )["process"]["rlimits"]
    assert user == [{"type": "RLIMIT_NOFILE", "hard": 60000, "soft": 50000}]


def syscalls_named(seccomp: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in seccomp["syscalls"] if name in r["names"]]


def test_seccomp_shape() -> None:
    sc = spec()["linux"]["seccomp"]
    assert sc["defaultAction"] == "SCMP_ACT_ERRNO"
    assert sc["defaultErrnoRet"] == 1
    assert sc["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    for rule in sc["syscalls"]:
        assert set(rule) <= {"names", "action", "args", "errnoRet"}
        assert rule["names"] and all(isinstance(n, str) for n in rule["names"])
        assert rule["action"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO")
        for arg in rule.get("args", []):
            assert set(arg) == {"index", "value", "valueTwo", "op"}
    allowed = {n for r in sc["syscalls"] if "args" not in r and r["action"].endswith("ALLOW")
               for n in r["names"]}  # fmt: skip
    assert {"read", "write", "execve", "arch_prctl", "ptrace"} <= allowed
    assert not {"mount", "unshare", "bpf", "keyctl", "add_key", "reboot"} & allowed
    assert len(allowed) > 300


def test_seccomp_clone3_enosys_and_clone_filtered() -> None:
    sc = spec()["linux"]["seccomp"]
    assert syscalls_named(sc, "clone3") == [
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]
    clone = syscalls_named(sc, "clone")
    assert clone == [
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        }
    ]
    admin = spec(cap_add=("SYS_ADMIN",))["linux"]["seccomp"]
    assert all(r["action"] == "SCMP_ACT_ALLOW" for r in syscalls_named(admin, "clone3"))
    assert any("args" not in r for r in syscalls_named(admin, "clone"))
    assert syscalls_named(admin, "mount")


def test_seccomp_personality_and_socket() -> None:
    sc = spec()["linux"]["seccomp"]
    personas = {r["args"][0]["value"] for r in syscalls_named(sc, "personality")}
    assert personas == {0, 8, 0x20000, 0x20008, 0xFFFFFFFF}
    socket = syscalls_named(sc, "socket")
    lt = [r["args"][0] for r in socket if r["args"][0]["op"] == "SCMP_CMP_LT"]
    eq = {r["args"][0]["value"] for r in socket if r["args"][0]["op"] == "SCMP_CMP_EQ"}
    assert lt == [{"index": 0, "value": 12, "valueTwo": 0, "op": "SCMP_CMP_LT"}]
    assert 38 not in eq and 40 not in eq
    assert {16, 17, 39, 41} <= eq


def test_seccomp_capability_conditioned_rules() -> None:
    profile = load_default_profile()
    plain = to_oci(profile, DEFAULT_CAPABILITIES)
    ptrace = to_oci(profile, [*DEFAULT_CAPABILITIES, "CAP_SYS_PTRACE"])
    assert not syscalls_named(plain, "kcmp")
    assert syscalls_named(ptrace, "kcmp")
    old_kernel = to_oci(profile, DEFAULT_CAPABILITIES, kernel=(4, 4))
    assert not syscalls_named(old_kernel, "ptrace")
    arm = to_oci(profile, DEFAULT_CAPABILITIES, arch="arm64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert not syscalls_named(arm, "arch_prctl")
    assert syscalls_named(arm, "set_tls")


CUSTOM_PROFILE = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    ],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"name": "chmod", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
        {"names": ["reboot"], "action": "SCMP_ACT_ALLOW",
         "excludes": {"arches": ["SCMP_ARCH_X86_64"]}},
        {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
    ],
}  # fmt: skip


def test_seccomp_unconfined_and_custom_profiles() -> None:
    """A profile in Docker's format is moby's setupSeccomp's: rules kept by the bounding
    caps, the architecture and the kernel; archMap's entry for the host's arch."""
    assert "seccomp" not in spec(security_opt=("seccomp=unconfined",))["linux"]
    assert "seccomp" not in spec(security_opt=("seccomp:unconfined",))["linux"]
    text = json.dumps(CUSTOM_PROFILE)
    custom = spec(security_opt=(f"seccomp={text}",), facts=HostFacts(kernel=(6, 1)))
    seccomp = custom["linux"]["seccomp"]
    assert (seccomp["defaultAction"], seccomp["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 1)
    assert seccomp["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert [r["names"] for r in seccomp["syscalls"]] == [["read", "write"], ["chmod"],
                                                           ["personality"]]  # fmt: skip
    assert seccomp["syscalls"][1]["errnoRet"] == 13
    assert seccomp["syscalls"][2]["args"] == [
        {"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
    ]
    traced = spec(security_opt=(f"seccomp={text}",), cap_add=("SYS_PTRACE",))
    assert ["ptrace"] in [r["names"] for r in traced["linux"]["seccomp"]["syscalls"]]
    arm = spec(security_opt=(f"seccomp={text}",), facts=HostFacts(arch="arm64"))
    assert ["reboot"] in [r["names"] for r in arm["linux"]["seccomp"]["syscalls"]]
    assert arm["linux"]["seccomp"]["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "seccomp" not in spec(security_opt=("seccomp={}",))["linux"]  # moby: disabled
    privileged = spec(privileged=True, security_opt=(f"seccomp={text}",))
    assert "seccomp" not in privileged["linux"]
    for bad, message in (
        ("{not json", "Decoding seccomp profile failed"),
        ('{"architectures": ["a"], "archMap": [{}]}', "use either 'architectures' or"),
        ('{"syscalls": [{"name": "a", "names": ["b"]}]}', "use either 'name' or 'names'"),
    ):
        with pytest.raises(InvalidParameter, match=message):
            spec(security_opt=(f"seccomp={bad}",))


PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
app:x:1000:1000:app:/home/app:/bin/sh
broken:x:notanumber:1::/:/bin/sh
huge:x:4294967296:1::/:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
app:x:1000:
staff:x:50:app,daemon
audio:x:29:app
"""


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", ResolvedUser(0, 0, (0,), "root", "/root")),
        ("root", ResolvedUser(0, 0, (0,), "root", "/root")),
        ("app", ResolvedUser(1000, 1000, (1000, 50, 29), "app", "/home/app")),
        ("1000", ResolvedUser(1000, 1000, (1000, 50, 29), "app", "/home/app")),
        ("1000:50", ResolvedUser(1000, 50, (50,), "app", "/home/app")),
        ("app:staff", ResolvedUser(1000, 50, (50,), "app", "/home/app")),
        ("app:4242", ResolvedUser(1000, 4242, (4242,), "app", "/home/app")),
        ("4242", ResolvedUser(4242, 0, (0,), "", "/")),
        ("4242:4243", ResolvedUser(4242, 4243, (4243,), "", "/")),
        ("daemon", ResolvedUser(1, 1, (1, 50), "daemon", "/usr/sbin")),
    ],
)
def test_resolve_user(user: str, expected: ResolvedUser) -> None:
    assert resolve_user(user, PASSWD, GROUP) == expected


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("nobody", "unable to find user nobody: no matching entries in passwd file"),
        ("broken", "unable to find user broken: no matching entries in passwd file"),
        ("huge", "unable to find user huge: no matching entries in passwd file"),
        ("app:wheel", "unable to find group wheel: no matching entries in group file"),
        ("2147483648", "uids and gids must be in range 0-2147483647"),
        ("4294967296", "uids and gids must be in range 0-2147483647"),
        ("-1", "uids and gids must be in range 0-2147483647"),
        ("app:2147483648", "uids and gids must be in range 0-2147483647"),
    ],
)
def test_resolve_user_errors(user: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        resolve_user(user, PASSWD, GROUP)
    assert str(info.value) == message
    assert info.value.http_status == 400


def test_resolve_user_without_files_and_with_group_add() -> None:
    assert resolve_user("", None, None) == ResolvedUser(0, 0, (0,), "", "/")
    assert resolve_user("123:456", None, None) == ResolvedUser(123, 456, (456,))
    with pytest.raises(InvalidParameter, match="unable to find user app"):
        resolve_user("app", None, None)
    added = resolve_user("app", PASSWD, GROUP, group_add=("daemon", "777"))
    assert added.additional_gids == (1000, 50, 29, 1, 777)
    with pytest.raises(InvalidParameter, match=r"^Unable to find group nope"):
        resolve_user("app", PASSWD, GROUP, group_add=("nope",))
    assert resolve_user("2147483647", None, None).uid == 2147483647


def test_domainname_and_annotations_reach_the_spec() -> None:
    """As moby: Domainname through the kernel.domainname sysctl (the OCI spec has no
    field for it), Annotations as the spec's annotations."""
    s = spec(
        config={"domainname": "example.org"},
        sysctls={"net.ipv4.ip_forward": "1"},
        network_mode="host",
    )
    assert s["linux"]["sysctl"] == {
        "net.ipv4.ip_forward": "1",
        "kernel.domainname": "example.org",
    }
    assert "sysctl" not in spec(network_mode="host")["linux"] and "annotations" not in spec()
    assert spec(annotations={"org.example/k": "v"})["annotations"] == {"org.example/k": "v"}


@pytest.mark.parametrize("mode", ["", "none", "bridge", "mynet"])
def test_a_network_namespace_of_its_own_lets_any_user_bind_low_ports_and_ping(mode: str) -> None:
    """As moby's WithSysctls: in a namespace the container does not share; a user's own
    value stays."""
    assert spec(network_mode=mode)["linux"]["sysctl"] == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "0",
    }
    mine = spec(network_mode=mode, sysctls={"net.ipv4.ip_unprivileged_port_start": "1024"})
    assert mine["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"] == "1024"
    assert "sysctl" not in spec(network_mode="host")["linux"]


def test_a_recorded_security_option_berth_does_not_apply_stops_the_start() -> None:
    """Create refuses it; a container recorded before it did gets the same answer."""
    with pytest.raises(InvalidParameter, match=r"SecurityOpt \(--security-opt\) .*apparmor=x"):
        spec(security_opt=("apparmor=x",))


def test_the_hosts_ipc_namespace_comes_with_the_hosts_dev_shm() -> None:
    shared = mount(spec(ipc_mode="host"), "/dev/shm")
    assert (shared["type"], shared["source"]) == ("bind", "/dev/shm")
    assert "rbind" in shared["options"]
    assert "ipc" not in {n["type"] for n in spec(ipc_mode="host")["linux"]["namespaces"]}
    own = mount(spec(ipc_mode="shareable", shm_size=1 << 20), "/dev/shm")
    assert (own["type"], f"size={1 << 20}" in own["options"]) == ("tmpfs", True)


def test_a_privileged_container_gets_the_hosts_devices() -> None:
    loop = {"path": "/dev/loop0", "type": "b", "major": 7, "minor": 0, "fileMode": 0o660}
    facts = HostFacts(devices=(loop,))
    assert spec(facts=facts, privileged=True)["linux"]["devices"] == [loop]
    assert "devices" not in spec(facts=facts)["linux"]


def test_a_terminal_gets_the_clients_window_size_before_the_process_starts() -> None:
    with_size = spec(config={"tty": True}, console_size=(30, 100))["process"]
    assert with_size["terminal"] is True
    assert with_size["consoleSize"] == {"height": 30, "width": 100}
    # No size given, or no terminal to size: runc's default.
    assert "consoleSize" not in spec(config={"tty": True})["process"]
    assert "consoleSize" not in spec(console_size=(30, 100))["process"]


TUN = {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 0o600,
       "uid": 0, "gid": 0, "access": "rw"}  # fmt: skip


def test_a_mapped_device_is_made_and_allowed_in_the_container() -> None:
    """As moby's WithDevices: the node in linux.devices, its rule among the cgroup's."""
    s = spec(facts=HostFacts(mapped_devices=[TUN]))
    node = {k: v for k, v in TUN.items() if k != "access"}
    assert s["linux"]["devices"] == [node]
    assert s["linux"]["resources"]["devices"][-1] == {
        "allow": True, "type": "c", "major": 10, "minor": 200, "access": "rw"
    }  # fmt: skip
    assert "devices" not in spec()["linux"]
    host_null = {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666,
                 "uid": 0, "gid": 0}  # fmt: skip
    privileged = spec(privileged=True, facts=HostFacts(devices=[host_null], mapped_devices=[TUN]))
    assert privileged["linux"]["devices"] == [host_null, node]  # every device allowed already
    assert (
        privileged["linux"]["resources"]["devices"]
        == spec(privileged=True)["linux"]["resources"]["devices"]
    )


def test_device_cgroup_rules_follow_the_defaults_and_a_star_means_every_number() -> None:
    s = spec(device_cgroup_rules=("c 1:11 w", "b *:* rwm", "c 7:* rm"))
    assert s["linux"]["resources"]["devices"][-3:] == [
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "w"},
        {"allow": True, "type": "b", "access": "rwm"},
        {"allow": True, "type": "c", "major": 7, "access": "rm"},
    ]
    assert "devices" not in spec(device_cgroup_rules=("c 1:11 w",))["linux"]
    privileged = spec(privileged=True, device_cgroup_rules=("c 1:11 w",))
    assert (
        privileged["linux"]["resources"]["devices"]
        == spec(privileged=True)["linux"]["resources"]["devices"]
    )


def test_a_mapped_device_without_permissions_gets_the_clis_default() -> None:
    s = spec(facts=HostFacts(mapped_devices=[{**TUN, "access": ""}]))
    assert s["linux"]["resources"]["devices"][-1]["access"] == "rwm"
