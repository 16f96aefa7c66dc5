"""The registry client's pull progress: Docker's messages, in Docker's order, throttled."""

from __future__ import annotations

import json
from typing import Any

from berth.adapters.content import ContentStore
from berth.adapters.registry import progress_message
from berth.adapters.registry.progress import DownloadMeter, human_size
from tests.fixtures.images import make_image
from tests.fixtures.layers import busybox_layer, make_layer
from tests.fixtures.registry import RunningRegistry

from .registry_pulls import NAME, pull


async def test_progress_messages_in_docker_order(
    registry: RunningRegistry, store: ContentStore
) -> None:
    present = make_layer({"a": b"present"})
    fresh = busybox_layer()
    image = make_image([present, fresh])
    registry.push(NAME, image)
    store.write_bytes(present.digest, present.blob.data)
    messages: list[dict[str, Any]] = []
    await pull(store, registry.host, progress=messages.append)
    old, new = present.digest[7:19], fresh.digest[7:19]
    assert messages[0] == {"status": "Pulling from library/busybox", "id": "latest"}
    assert messages[1] == {"status": "Already exists", "progressDetail": {}, "id": old}
    assert messages[2] == {"status": "Pulling fs layer", "progressDetail": {}, "id": new}
    assert messages[-2:] == [
        {"status": "Verifying Checksum", "progressDetail": {}, "id": new},
        {"status": "Download complete", "progressDetail": {}, "id": new},
    ]
    downloading = messages[3:-2]
    assert downloading and all(m["status"] == "Downloading" for m in downloading)
    currents = [m["progressDetail"]["current"] for m in downloading]
    assert currents == sorted(currents) and currents[-1] <= fresh.blob.size
    for m in downloading:
        assert list(m) == ["status", "progressDetail", "progress", "id"]
        assert m["progressDetail"]["total"] == fresh.blob.size and m["id"] == new
        assert m["progress"].endswith(f"/{human_size(fresh.blob.size)}")
    assert list(messages[2]) == ["status", "progressDetail", "id"]


async def test_progress_waiting_beyond_max_parallel(
    registry: RunningRegistry, store: ContentStore
) -> None:
    layers = [make_layer({f"f{i}": bytes([i]) * 1000}) for i in range(3)]
    registry.push(NAME, make_image(layers))
    messages: list[dict[str, Any]] = []
    await pull(store, registry.host, progress=messages.append, max_parallel=1)
    ids = [layer.digest[7:19] for layer in layers]
    steps = [(m["status"], m.get("id")) for m in messages if m["status"] != "Downloading"]
    assert steps == [
        ("Pulling from library/busybox", "latest"),
        *[("Pulling fs layer", i) for i in ids],
        ("Waiting", ids[1]),
        ("Waiting", ids[2]),
        *[step for i in ids for step in (("Verifying Checksum", i), ("Download complete", i))],
    ]


def test_progress_message_shapes() -> None:
    # Byte for byte what dockerd 20.10 sent (shared/reference/docker-api-capture/01-pull.txt).
    assert json.dumps(
        progress_message("Downloading", "7b73e9425f90", 36445, 1084263), separators=(",", ":")
    ) == (
        '{"status":"Downloading","progressDetail":{"current":36445,"total":1084263},'
        '"progress":"[=>                                                 ]  36.45kB/1.084MB",'
        '"id":"7b73e9425f90"}'
    )
    assert progress_message("Extracting", "x", 1084263, 1084263)["progress"] == (
        "[" + "=" * 50 + ">]  1.084MB/1.084MB"
    )
    assert progress_message("Pulling from library/busybox", "latest") == {
        "status": "Pulling from library/busybox",
        "id": "latest",
    }
    assert progress_message("Pull complete", "7b73e9425f90") == {
        "status": "Pull complete",
        "progressDetail": {},
        "id": "7b73e9425f90",
    }
    assert progress_message("Digest: sha256:abc") == {"status": "Digest: sha256:abc"}
    assert human_size(512) == "512B" and human_size(753664) == "753.7kB"


def test_download_meter_throttles() -> None:
    now = [0.0]
    meter = DownloadMeter(100 * 1024 * 1024, clock=lambda: now[0])
    sent = [meter.add(64 * 1024) for _ in range(100)]  # no time passes
    assert sent.count(True) == 1
    now[0] += 0.1
    assert meter.add(600 * 1024) is True
    assert meter.add(1) is False  # below 512 KiB since the last update
    small = DownloadMeter(1000, clock=lambda: now[0])
    assert small.add(999) is True
    assert small.add(1) is True  # the last bytes are always reported
