"""`--platform`: berth pulls and runs the host's platform only; any other is refused with
a message naming it (never ignored), and nothing is created. `docker search`, which berth
does not do, is refused by name too."""

from __future__ import annotations

import json

from berth.runtime.api.params import HOST_ARCHITECTURE

from .conftest import Berthd

OTHER = "linux/riscv64" if HOST_ARCHITECTURE != "riscv64" else "linux/s390x"


def test_another_platform_is_refused_and_the_host_s_is_taken(berthd: Berthd) -> None:
    refused = berthd.docker("create", "--platform", OTHER, "--name", "elsewhere", "busybox")
    assert refused.returncode != 0
    assert f'platform "{OTHER}" is not supported by berth' in refused.stderr
    pulled = berthd.docker("pull", "--platform", OTHER, "busybox")
    assert pulled.returncode != 0 and "is not supported by berth" in pulled.stderr
    assert berthd.docker("ps", "-aq").stdout == ""
    host = f"linux/{HOST_ARCHITECTURE}"
    made = berthd.docker("create", "--platform", host, "--name", "here", "busybox", "true")
    assert made.returncode == 0, made.stderr
    (doc,) = json.loads(berthd.docker("inspect", "here").stdout)
    assert doc["Name"] == "/here"
    assert berthd.docker("rm", "here").returncode == 0


def test_search_is_refused_by_name(berthd: Berthd) -> None:
    searched = berthd.docker("search", "busybox")
    assert searched.returncode != 0
    assert "docker search is not supported by berth" in searched.stderr
