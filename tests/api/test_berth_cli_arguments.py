"""berth's CLI stops reading its own options at the image, as docker's does.

Everything after the image of `run` and `create` is the container's command, options
included (`ls -l` is not `--label`). Run with the real `berth` binary against a berthd.
"""

from __future__ import annotations

import json
import re

from .berth_cli import berth
from .conftest import Berthd


def test_run_options_after_the_image_are_the_commands(berthd: Berthd) -> None:
    listing = berth(berthd, "run", "--rm", "busybox", "ls", "-l", "/")
    assert listing.returncode == 0, listing.stderr
    # ls's long listing: a mode column for every entry, e.g. "drwxr-xr-x    2 root ..."
    lines = [line for line in listing.stdout.splitlines() if line.startswith("d")]
    assert any(line.split()[-1] == "bin" for line in lines), listing.stdout
    assert all(re.fullmatch(r"d[rwxst-]{9}", line.split()[0]) for line in lines), lines

    echoed = berth(berthd, "run", "--rm", "busybox", "echo", "--rm", "-d", "-l")
    assert (echoed.returncode, echoed.stdout, echoed.stderr) == (0, "--rm -d -l\n", "")
    assert berth(berthd, "ps", "-aq").stdout == ""


def test_create_keeps_the_commands_options_with_or_without_dashes(berthd: Berthd) -> None:
    for dashes in ((), ("--",)):
        made = berth(
            berthd, "create", "-l", "tier=web", *dashes, "busybox", "ls", "-l", "--name", "x"
        )
        assert made.returncode == 0, made.stderr
        inspected = berth(berthd, "inspect", made.stdout.strip())
        (doc,) = json.loads(inspected.stdout)
        assert doc["Config"]["Cmd"] == ["ls", "-l", "--name", "x"]
        assert doc["Config"]["Labels"] == {"tier": "web"}
        assert doc["Name"] != "/x"
        assert berth(berthd, "rm", made.stdout.strip()).returncode == 0


def test_an_unknown_option_before_the_image_is_refused(berthd: Berthd) -> None:
    refused = berth(berthd, "run", "--rm", "--no-such-option", "busybox", "true")
    assert refused.returncode == 2
    assert "No such option '--no-such-option'" in refused.stderr
    assert berth(berthd, "ps", "-aq").stdout == ""
