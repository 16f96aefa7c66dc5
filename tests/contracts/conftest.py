"""Shared by the contract suites: which implementations to run, and what needs root."""

from __future__ import annotations

import os
import shutil

import pytest

#: Every suite runs each test once per implementation.
IMPLEMENTATIONS = ["fake", "real"]


def needs(*, root: bool = False, commands: tuple[str, ...] = ()) -> None:
    """Skip the real adapter's run where the machine lacks what it drives."""
    if root and os.geteuid() != 0:
        pytest.skip("the real adapter needs root")
    missing = [command for command in commands if shutil.which(command) is None]
    if missing:
        pytest.skip(f"the real adapter needs {', '.join(missing)}")
