"""The distribution ships every package folder, under the import names the design fixes."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"domain": "berth.domain", "adapters": "berth.adapters", "runtime": "berth.runtime"}


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        FOLDERS[init.relative_to(ROOT).parts[0]]
        + "".join("." + part for part in init.parent.relative_to(ROOT).parts[1:])
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_import_names_map_to_the_design_folders() -> None:
    for folder, name in FOLDERS.items():
        module = importlib.import_module(name)
        assert Path(module.__file__ or "").resolve().parent == ROOT / folder


def test_domain_imports_nothing_from_the_outside_world() -> None:
    forbidden = (
        "import trio",
        "import os",
        "import subprocess",
        "import socket",
        "from berth.runtime",
        "from berth.adapters",
        "import time",
        "import random",
        "datetime.now",
        "open(",
    )
    for source in (ROOT / "domain").rglob("*.py"):
        text = source.read_text()
        for word in forbidden:
            assert word not in text, f"{source.relative_to(ROOT)} uses {word!r}"
