"""Answers found to differ from dockerd 20.10's by running the same docker CLI commands
against both: each as dockerd gives it."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from berth.adapters.cgroups import memory_features
from berth.adapters.cgroups import unified as unified_cgroups
from tests.fixtures.images import make_image
from tests.fixtures.layers import busybox_layer
from tests.fixtures.registry import RunningRegistry

from .conftest import Berthd


def tar_from(berthd: Berthd, *args: str) -> tarfile.TarFile:
    """The tar a docker command writes on its standard output."""
    done = subprocess.run(
        berthd.docker_argv(*args), env=berthd.docker_env(), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return tarfile.open(fileobj=io.BytesIO(done.stdout))


#: dockerd's `Config` of an image with no settings (an imported one): Go's struct, its
#: empty slices and maps null.
EMPTY_IMAGE_CONFIG = {
    "Hostname": "",
    "Domainname": "",
    "User": "",
    "AttachStdin": False,
    "AttachStdout": False,
    "AttachStderr": False,
    "Tty": False,
    "OpenStdin": False,
    "StdinOnce": False,
    "Env": None,
    "Cmd": None,
    "Image": "",
    "Volumes": None,
    "WorkingDir": "",
    "Entrypoint": None,
    "OnBuild": None,
    "Labels": None,
}


def test_an_imported_images_config_has_every_field(
    berthd: Berthd, docker_api: docker.APIClient
) -> None:
    """docker-py hands the body over as it is (the CLI 28 re-encodes it, omitting empties)."""
    image = docker_api.inspect_image("busybox")
    assert image["Config"] == EMPTY_IMAGE_CONFIG
    assert image["ContainerConfig"] == EMPTY_IMAGE_CONFIG


def test_a_committed_images_config_keeps_its_settings_in_gos_shape(
    berthd: Berthd, docker_api: docker.APIClient
) -> None:
    made = berthd.docker("create", "--name", "base", "-e", "A=1", "busybox", "true")
    assert made.returncode == 0, made.stderr
    committed = berthd.docker("commit", "-c", 'CMD ["echo","hi"]', "-c", "EXPOSE 80", "base", "c:1")
    assert committed.returncode == 0, committed.stderr
    config = docker_api.inspect_image("c:1")["Config"]
    fields = list(EMPTY_IMAGE_CONFIG)
    assert list(config) == [*fields[:6], "ExposedPorts", *fields[6:]]
    assert config["Cmd"] == ["echo", "hi"] and config["ExposedPorts"] == {"80/tcp": {}}
    assert "A=1" in config["Env"]


def test_cp_out_reads_the_files_the_engine_binds_over_etc(berthd: Berthd) -> None:
    run = berthd.docker("run", "-d", "--name", "files", "-h", "named", "busybox", "sleep", "60")
    assert run.returncode == 0, run.stderr
    with tar_from(berthd, "cp", "files:/etc/hostname", "-") as tar:
        assert tar.extractfile("hostname").read() == b"named\n"  # type: ignore[union-attr]
    with tar_from(berthd, "cp", "files:/etc", "-") as tar:
        hosts = tar.extractfile("etc/hosts").read()  # type: ignore[union-attr]
        assert b"localhost" in hosts
        assert tar.extractfile("etc/hostname").read() == b"named\n"  # type: ignore[union-attr]


def test_a_container_has_dockerenv_which_diff_does_not_show(berthd: Berthd) -> None:
    made = berthd.docker("create", "--name", "marked", "busybox", "true")
    assert made.returncode == 0, made.stderr
    with tar_from(berthd, "export", "marked") as tar:
        marker = tar.getmember(".dockerenv")
        assert (marker.size, marker.mode) == (0, 0o755)
    run = berthd.docker("run", "--name", "looked", "busybox", "sh", "-c", "test -f /.dockerenv")
    assert run.returncode == 0, run.stderr
    assert berthd.docker("diff", "looked").stdout == ""


def test_kill_of_a_stopped_container_names_it_as_the_client_did(berthd: Berthd) -> None:
    made = berthd.docker("create", "--name", "idle", "busybox", "true")
    assert made.returncode == 0, made.stderr
    refused = berthd.docker("kill", "idle")
    assert refused.returncode == 1
    assert (
        f"Error response from daemon: Cannot kill container: idle: Container "
        f"{made.stdout.strip()} is not running"
    ) in refused.stderr


def test_errors_are_written_as_gos_encoder_writes_them(berthd: Berthd) -> None:
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(10)
        client.connect(str(berthd.socket))
        client.sendall(b"GET /v1.41/containers/nosuch/json HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"\n}\n") and b'"}\n' not in answer:
            chunk = client.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.split(b"\r\n\r\n", 1)[1] == b'{"message":"No such container: nosuch"}\n'


def test_any_user_binds_low_ports_and_pings_in_a_network_of_its_own(berthd: Berthd) -> None:
    """moby's WithSysctls: an nginx running as a user binds port 80 as on dockerd."""
    for network in ("none", "bridge"):
        run = berthd.docker(
            "run", "--rm", "--network", network, "-u", "1000:1000", "busybox", "sh", "-c",
            "cat /proc/sys/net/ipv4/ip_unprivileged_port_start "
            "/proc/sys/net/ipv4/ping_group_range; nc -l -p 80 & sleep 0.2; kill $!",
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["0", "0", "2147483647"]
        assert "Permission denied" not in run.stderr


def test_no_new_privileges_is_off_unless_asked_for_as_with_dockerd(berthd: Berthd) -> None:
    """setuid binaries and file capabilities work as in Docker (su, sudo, ping as a user)."""
    for options, expected in (((), "0"), (("--security-opt", "no-new-privileges"), "1")):
        run = berthd.docker(
            "run", "--rm", *options, "busybox", "sh", "-c", "grep NoNewPrivs /proc/self/status"
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["NoNewPrivs:", expected]


def test_a_swarm_network_driver_is_a_swarm_managers(berthd: Berthd) -> None:
    refused = berthd.docker("network", "create", "--driver", "overlay", "ov")
    assert refused.returncode == 1
    assert "This node is not a swarm manager." in refused.stderr


def test_inspect_shows_the_host_paths_and_default_masks(
    berthd: Berthd, docker_api: docker.APIClient
) -> None:
    run = berthd.docker("run", "-d", "--name", "seen", "busybox", "sleep", "60")
    assert run.returncode == 0, run.stderr
    doc = docker_api.inspect_container("seen")
    home = berthd.root / "containers" / doc["Id"]
    assert doc["LogPath"] == str(home / "container.log")
    assert (doc["HostnamePath"], doc["HostsPath"], doc["ResolvConfPath"]) == (
        str(home / "hostname"),
        str(home / "hosts"),
        str(home / "resolv.conf"),
    )
    data = doc["GraphDriver"]["Data"]
    assert sorted(data) == ["LowerDir", "MergedDir", "UpperDir", "WorkDir"]
    assert all(Path(p).is_dir() for key in data for p in data[key].split(":"))
    assert "/proc/kcore" in doc["HostConfig"]["MaskedPaths"]
    assert doc["HostConfig"]["ReadonlyPaths"] == [
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
    ]
    privileged = berthd.docker("create", "--privileged", "--name", "all", "busybox", "true")
    assert privileged.returncode == 0, privileged.stderr
    host_config = docker_api.inspect_container("all")["HostConfig"]
    assert host_config["MaskedPaths"] is None and host_config["ReadonlyPaths"] is None


def test_a_tail_that_is_no_number_means_every_line_and_a_bad_new_name_is_dockerds(
    berthd: Berthd,
) -> None:
    run = berthd.docker("run", "--name", "two", "busybox", "sh", "-c", "echo a; echo b")
    assert run.returncode == 0, run.stderr
    assert berthd.docker("logs", "--tail", "abc", "two").stdout == "a\nb\n"
    refused = berthd.docker("rename", "two", "bad name")
    assert (
        "Error when allocating new name: Invalid container name (/bad name), only "
        "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    ) in refused.stderr


def test_more_cpus_than_the_host_has_are_refused_as_dockerd_refuses_them(berthd: Berthd) -> None:
    ncpu = len(os.sched_getaffinity(0))
    refused = berthd.docker("run", "--rm", "--cpus", str(ncpu + 1), "busybox", "true")
    assert refused.returncode == 125
    assert (
        f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
    ) in refused.stderr
    assert berthd.docker("ps", "-aq").stdout == ""  # nothing made


def test_a_host_device_is_mapped_into_the_container(berthd: Berthd) -> None:
    run = berthd.docker(
        "run", "--rm", "--device", "/dev/null:/dev/mynull:rw", "busybox", "sh", "-c",
        "ls -l /dev/mynull; echo x > /dev/mynull && echo written",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("crw") and run.stdout.endswith("written\n")
    assert " 1,   3 " in run.stdout  # /dev/null's numbers


def test_a_device_that_is_not_there_fails_the_start_in_dockerds_words(berthd: Berthd) -> None:
    run = berthd.docker("run", "--name", "nodev", "--device", "/dev/nosuch", "busybox", "true")
    assert run.returncode == 127  # the docker CLI's code for "no such file or directory"
    assert (
        'error gathering device information while adding custom device "/dev/nosuch": '
        "no such file or directory"
    ) in run.stderr
    state = berthd.docker("inspect", "-f", "{{.State.Status}}", "nodev")
    assert state.stdout.strip() == "created"


def test_a_device_cgroup_rule_lets_the_container_open_a_node_it_made(berthd: Berthd) -> None:
    """/dev/kmsg's numbers are not among the default rules: its node can be made (`m` is
    allowed for every device) but opened only with a rule; `: >` opens without writing."""
    script = "mknod /kmsg c 1 11 && : > /kmsg && echo opened"
    denied = berthd.docker("run", "--rm", "busybox", "sh", "-c", script)
    assert denied.returncode != 0 and "Operation not permitted" in denied.stderr
    allowed = berthd.docker(
        "run", "--rm", "--device-cgroup-rule", "c 1:11 w", "busybox", "sh", "-c", script
    )
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == "opened\n"
    shown = berthd.docker(
        "create", "--device-cgroup-rule", "c 7:* rwm", "--name", "rules", "busybox", "true"
    )
    assert shown.returncode == 0, shown.stderr
    rules = berthd.docker("inspect", "-f", "{{json .HostConfig.DeviceCgroupRules}}", "rules")
    assert rules.stdout.strip() == '["c 7:* rwm"]'


def test_a_device_cgroup_rule_dockerd_could_not_parse_is_refused_at_create(
    berthd: Berthd,
) -> None:
    client = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41")
    host_config = client.create_host_config(device_cgroup_rules=["c 1:3 rwx"])
    with pytest.raises(docker.errors.APIError) as refused:
        client.create_container("busybox", "true", name="badrule", host_config=host_config)
    assert refused.value.status_code == 400
    assert refused.value.explanation == "invalid device cgroup rule format: 'c 1:3 rwx'"
    assert berthd.docker("ps", "-aq").stdout == ""


def test_the_cgroup_namespace_is_dockerds_default_for_the_host_and_inspect_says_so(
    berthd: Berthd,
) -> None:
    """On cgroup v1 (and hybrid) a container sees the host's cgroup paths, as dockerd's;
    on v2 alone it has a namespace of its own."""
    expected = "private" if unified_cgroups() else "host"
    run = berthd.docker("run", "--name", "cgns", "busybox", "cat", "/proc/self/cgroup")
    assert run.returncode == 0, run.stderr
    mode = berthd.docker("inspect", "-f", "{{.HostConfig.CgroupnsMode}}", "cgns")
    assert mode.stdout.strip() == expected
    own_root = all(line.endswith(":/") for line in run.stdout.splitlines())
    assert own_root == (expected == "private")
    asked = berthd.docker("run", "--rm", "--cgroupns", "private", "busybox", "cat",
                          "/proc/self/cgroup")  # fmt: skip
    assert all(line.endswith(":/") for line in asked.stdout.splitlines())


def test_the_hosts_network_comes_with_its_name_in_a_uts_namespace_of_its_own(
    berthd: Berthd,
) -> None:
    """dockerd 20.10: `--network host` names the container as the host is named, in a UTS
    namespace of the container's own: a privileged container's `hostname x` is its own."""
    run = berthd.docker(
        "run", "--name", "hostnet", "--network", "host", "--privileged", "busybox", "sh",
        "-c", "hostname; readlink /proc/self/ns/uts; cat /etc/hostname; hostname renamed",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    name, namespace, file_name = run.stdout.splitlines()
    assert name == file_name == os.uname().nodename
    assert namespace != os.readlink("/proc/self/ns/uts")
    assert socket.gethostname() == name  # the host's own name is untouched
    shown = berthd.docker("inspect", "-f", "{{.Config.Hostname}}", "hostnet")
    assert shown.stdout.strip() == name


def test_a_registry_on_the_loopback_is_spoken_to_in_plain_http_unlisted(
    start_berthd: Callable[..., Berthd], registry: RunningRegistry
) -> None:
    """dockerd treats 127.0.0.0/8 as insecure whatever it is told: `docker run -p
    5000:5000 registry` then a push or pull of `localhost:5000/x` needs no flag."""
    registry.push("library/busybox", make_image([busybox_layer()]))
    daemon = start_berthd()  # no --insecure-registry
    port = registry.host.rsplit(":", 1)[1]
    for host in (registry.host, f"localhost:{port}"):
        pulled = daemon.docker("pull", f"{host}/library/busybox:latest")
        assert pulled.returncode == 0, pulled.stderr
        assert "Status: Downloaded newer image for" in pulled.stdout


def test_info_says_what_the_engine_and_the_host_have(
    start_berthd: Callable[..., Berthd], berthd: Berthd
) -> None:
    """As dockerd's /info: the host's OS, what the memory controller can limit, the
    volume and network drivers, the default seccomp profile; an id of dockerd's shape
    that tells two engines apart and stays across restarts."""
    info = json.loads(berthd.docker("info", "--format", "{{json .}}").stdout)
    assert re.fullmatch(r"[A-Z2-7]{4}(:[A-Z2-7]{4}){11}", info["ID"])
    assert info["Plugins"]["Volume"] == ["local"]
    assert info["Plugins"]["Network"] == ["bridge", "host", "null"]
    assert "name=seccomp,profile=default" in info["SecurityOptions"]
    assert info["IndexServerAddress"] == "https://index.docker.io/v1/"
    assert info["RegistryConfig"]["IndexConfigs"]["docker.io"]["Official"] is True
    lines = Path("/etc/os-release").read_text().splitlines()
    release = dict(line.split("=", 1) for line in lines if "=" in line)
    assert info["OperatingSystem"] == release["PRETTY_NAME"].strip('"')
    memory = {k: info[k] for k in ("MemoryLimit", "SwapLimit", "OomKillDisable")}
    assert memory == {k: v for k, v in memory_features().items() if k in memory}
    other = start_berthd(name="other").docker("info", "--format", "{{.ID}}").stdout.strip()
    assert other != info["ID"]
    berthd.stop()
    again = start_berthd().docker("info", "--format", "{{.ID}}").stdout.strip()
    assert again == info["ID"]


@pytest.mark.parametrize("runtime", ["crun", "runc"])
def test_a_seccomp_profile_of_the_users_is_applied(
    berthd: Berthd, tmp_path: Path, runtime: str
) -> None:
    """`--security-opt seccomp=profile.json` (the CLI sends the file's text): moby's
    profile format, here allowing everything but mkdir, which fails with EACCES."""
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
    }))  # fmt: skip
    script = "mkdir /made || echo refused; echo ok > /file && cat /file"
    run = berthd.docker(
        "run", "--rm", "--runtime", runtime, "--security-opt", f"seccomp={profile}",
        "busybox", "sh", "-c", script,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Permission denied" in run.stderr and run.stdout == "refused\nok\n"
    plain = berthd.docker("run", "--rm", "--runtime", runtime, "busybox", "sh", "-c", script)
    assert plain.stdout == "ok\n"
    client = docker.APIClient(base_url=f"unix://{berthd.socket}", version="1.41")
    with pytest.raises(docker.errors.APIError) as refused:  # the CLI checks the JSON itself
        client.create_container(
            "busybox", "true", host_config=client.create_host_config(
                security_opt=["seccomp={not json"])
        )  # fmt: skip
    assert refused.value.status_code == 400
    assert "Decoding seccomp profile failed" in str(refused.value.explanation)
    assert berthd.docker("ps", "-aq").stdout == ""


def test_a_pid_namespace_of_another_container_is_joined(berthd: Berthd) -> None:
    """`--pid container:X` (compose's `pid: service:x`): the donor's processes are seen;
    a donor that is not running, or not there, is dockerd's refusal at start."""
    donor = berthd.docker("run", "-d", "--name", "donor", "busybox", "sleep", "300")
    assert donor.returncode == 0, donor.stderr
    script = "for f in /proc/[0-9]*/cmdline; do cat $f; echo; done"
    seen = berthd.docker("run", "--rm", "--pid", "container:donor", "busybox", "sh", "-c", script)
    assert seen.returncode == 0, seen.stderr
    assert "sleep\x00300" in seen.stdout
    ok = berthd.docker("stop", "-t", "0", "donor")
    assert ok.returncode == 0, ok.stderr
    stopped = berthd.docker("run", "--pid", "container:donor", "--name", "late", "busybox", "true")
    assert stopped.returncode != 0 and "is not running" in stopped.stderr
    gone = berthd.docker("run", "--pid", "container:nosuch", "busybox", "true")
    assert "cannot join PID of a non running container: nosuch" in gone.stderr
