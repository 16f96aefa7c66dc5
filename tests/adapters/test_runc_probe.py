"""runc's probes: the output of both streams, cut to what is kept, the container's own
process settings, and nothing left running after a timeout."""

from __future__ import annotations

from pathlib import Path

import trio

from berth.adapters.runc import Runtime

from ..contracts.conftest import needs
from .runc_harness import Harness

LONG = ["sleep", "100"]


async def test_output_of_both_streams_is_kept_up_to_its_limit(tmp_path: Path) -> None:
    needs(root=True, commands=("runc", "conmon"))
    harness = Harness(tmp_path)
    runtime: Runtime = harness.rt
    cid, bundle = harness.bundle(LONG)
    try:
        await runtime.create(cid, bundle, harness.log_path(cid))
        await runtime.start(cid)
        both = await runtime.probe(cid, ["sh", "-c", "echo out; echo err >&2; exit 2"], 10, 100)
        assert both.exit_code == 2
        # Both streams, each line whole (runc copies each stream on its own: no order).
        assert sorted(both.output.splitlines()) == [b"err", b"out"]
        big = await runtime.probe(cid, ["sh", "-c", "yes | head -c 100000"], 10, 4096)
        assert (big.exit_code, big.output) == (0, b"y\n" * 2048)
        slow = await runtime.probe(cid, ["sh", "-c", "echo started; exec sleep 100"], 0.5, 4096)
        assert (slow.exit_code, slow.output) == (None, b"started\n")
        with trio.fail_after(10):
            running = await runtime.probe(cid, ["busybox", "ps", "-o", "args"], 10, 4096)
        assert running.output.count(b"sleep 100") == 1  # the container's own, not the probe's
        missing = await runtime.probe(cid, ["/nope"], 10, 4096)
        assert missing.exit_code not in (0, None)
        assert b"/nope" in missing.output
    finally:
        await runtime.kill(cid, "SIGKILL")
        await runtime.wait_exited(cid)
        await runtime.delete(cid)
        left = harness.leftovers()
        assert not any(left.values()), left
