"""The compiled seccomp program handed to crun in its bundle, from a cache on disk
(ADR/0040).

crun loads the program in `run.oci.seccomp_bpf_data` (base64) as it is, instead of
compiling `linux.seccomp`, which stays in config.json for runc. The cache holds one file
per compiled program, named by a digest of what decides it: the OCI `linux.seccomp`
itself (berth's profile as the container's capabilities and the host's architecture
select it), libseccomp's version and whether the kernel has the x32 ABI; any change
names another file. A file is written whole (temporary, then renamed) or not at all.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.adapters.private_files import write_private
from berth.adapters.seccomp import compile_seccomp, kernel_has_x32, libseccomp_version

ANNOTATION = "run.oci.seccomp_bpf_data"
#: Bumped when the compiler's output for the same input changes.
FORMAT = 1


class SeccompCache:
    """Compiled programs under `directory`, one per key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # The annotation's text per key, once read or compiled in this process.
        self._encoded: dict[str, str] = {}
        # Containers starting at once (`compose up --scale`) ask from several threads.
        self._compiling = threading.Lock()

    def key(self, seccomp: Mapping[str, Any]) -> str:
        decided_by = {
            "format": FORMAT,
            "seccomp": seccomp,
            "libseccomp": libseccomp_version(),
            "x32": kernel_has_x32(),
        }
        text = json.dumps(decided_by, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def encoded(self, seccomp: Mapping[str, Any]) -> str:
        """The compiled program in base64, as crun's annotation carries it."""
        key = self.key(seccomp)
        if key not in self._encoded:
            self._encoded[key] = base64.b64encode(self._program(key, seccomp)).decode()
        return self._encoded[key]

    def program(self, seccomp: Mapping[str, Any]) -> bytes:
        """The compiled program: the cached one, or compiled now and kept."""
        return self._program(self.key(seccomp), seccomp)

    def _program(self, key: str, seccomp: Mapping[str, Any]) -> bytes:
        path = self.directory / f"{key}.bpf"
        with contextlib.suppress(FileNotFoundError):
            return path.read_bytes()
        with self._compiling:
            with contextlib.suppress(FileNotFoundError):
                return path.read_bytes()  # compiled by the thread that had the lock
            compiled = compile_seccomp(seccomp)
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Unique per process and thread: another berth process may compile it too.
            partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
            write_private(partial, compiled)
            os.replace(partial, path)
            return compiled

    def annotate_bundle(self, bundle: Path) -> bool:
        """Put the compiled program of the bundle's `linux.seccomp` in its annotation;
        False when the bundle has no seccomp (or already the annotation)."""
        config_path = bundle / "config.json"
        spec = json.loads(config_path.read_text())
        seccomp = (spec.get("linux") or {}).get("seccomp")
        annotations = spec.setdefault("annotations", {})
        if not seccomp or ANNOTATION in annotations:
            return False
        annotations[ANNOTATION] = self.encoded(seccomp)
        write_private(config_path, json.dumps(spec))
        return True
