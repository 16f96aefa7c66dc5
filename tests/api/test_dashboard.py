"""The dashboard berthd serves with `--metrics-addr`: its JSON, its event stream, its page.

The page is driven in Debian's headless Chromium through selenium and chromedriver: it
loads, lists the containers, and shows a container created through the API within one
second of the API call returning. Every process chromedriver started is gone afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from .conftest import Berthd, base_url

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def read_frames(
    url: str, headers: dict[str, str], count: int
) -> list[tuple[int, dict[str, object]]]:
    """The first `count` events of an SSE stream, as (id, data)."""
    frames: list[tuple[int, dict[str, object]]] = []
    with httpx.stream("GET", url, headers=headers, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        for line in response.iter_lines():
            if line:
                key, _, text = line.partition(": ")
                block[key] = text
                continue
            if "id" in block:
                frames.append((int(block["id"]), json.loads(block["data"])))
                if len(frames) == count:
                    break
            block = {}
    return frames


def test_json_endpoints_read_projections_and_log(api: tuple[docker.APIClient, Berthd]) -> None:
    client, daemon = api
    url = base_url(daemon)
    name = f"d{uuid.uuid4().hex[:8]}"
    kept = client.create_container(
        "busybox", ["true"], name=name, environment={"SECRET_TOKEN": "hunter2"}
    )["Id"]
    gone = client.create_container("busybox", ["true"])["Id"]
    client.rename(kept, f"{name}-renamed")
    client.remove_container(gone)

    view = httpx.get(f"{url}/api/containers", timeout=10).json()
    assert [c["id"] for c in view["containers"]] == [kept]
    assert view["containers"][0]["name"] == f"{name}-renamed"
    assert view["counts"]["created"] == 1 and view["counts"]["running"] == 0

    history = httpx.get(f"{url}/api/containers/{kept}/history", timeout=10).json()
    events = [e["event"] for e in history["events"]]
    assert events == ["Created", "Prepared", "Renamed"]
    assert history["events"][0]["actor"]["kind"] == "api"
    assert [e["version"] for e in history["events"]] == [1, 2, 3]

    first = httpx.get(f"{url}/api/containers/{kept}/at?version=1", timeout=10).json()
    assert first["document"]["Name"] == f"/{name}"
    assert first["document"]["Config"] == {"Image": "busybox"}  # the lifecycle, no settings
    assert "hunter2" not in json.dumps(first)
    latest = httpx.get(f"{url}/api/containers/{kept}/at?version=3", timeout=10).json()
    assert latest["document"]["Name"] == f"/{name}-renamed"

    # A removed container still has its history and its past documents.
    removed = httpx.get(f"{url}/api/containers/{gone}/history", timeout=10).json()
    assert [e["event"] for e in removed["events"]][-1] == "Removed"
    last = removed["events"][-1]["version"]
    at_removal = httpx.get(f"{url}/api/containers/{gone}/at?version={last}", timeout=10).json()
    assert at_removal["document"] is None
    before = httpx.get(f"{url}/api/containers/{gone}/at?version=1", timeout=10).json()
    assert before["document"]["State"]["Status"] == "created"

    unknown = "0" * 64
    assert httpx.get(f"{url}/api/containers/{unknown}/history", timeout=10).status_code == 404
    assert httpx.get(f"{url}/api/containers/{unknown}/at?version=1", timeout=10).status_code == 404
    assert httpx.get(f"{url}/api/containers/{name}/history", timeout=10).status_code == 400
    for bad in ("0", "-1", "x", "", "9" * 20):
        response = httpx.get(f"{url}/api/containers/{kept}/at?version={bad}", timeout=10)
        assert response.status_code == 400, bad
        assert "version" in response.json()["message"]


def test_event_stream_resumes_at_a_log_position(api: tuple[docker.APIClient, Berthd]) -> None:
    client, daemon = api
    url = base_url(daemon)
    created = client.create_container("busybox", ["true"])["Id"]
    everything = read_frames(f"{url}/api/events?since=0", {}, 5)
    assert [position for position, _ in everything] == [1, 2, 3, 4, 5]
    assert everything[0][1]["event"] == "Loaded"
    # berthd creates the default bridge network when it first starts.
    assert everything[1][1]["event"] == "Created" and everything[1][1]["id"] != created
    assert (everything[2][1]["event"], everything[2][1]["id"]) == ("Created", created)

    # A browser reconnecting sends the last id it saw; that header wins over `since`.
    resumed = read_frames(f"{url}/api/events?since=0", {"Last-Event-ID": "3"}, 2)
    assert [position for position, _ in resumed] == [4, 5]
    for bad in ("abc", "9" * 20):
        assert httpx.get(f"{url}/api/events?since={bad}", timeout=10).status_code == 400


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    service = Service(CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    started = {service.process.pid, *_descendants(service.process.pid)}
    try:
        yield driver
    finally:
        started |= _descendants(service.process.pid)
        driver.quit()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in started if _alive(pid)]
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert left == [], f"chromium processes left behind: {left}"


def _texts(driver: webdriver.Chrome, css: str) -> list[str]:
    """The text of every element matching `css`, read in one step (no stale elements)."""
    found: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent)", css
    )
    return found


def _wait_for(driver: webdriver.Chrome, css: str, timeout: float) -> float:
    """Seconds until an element matching `css` is present (polled every 10 ms)."""
    started = time.monotonic()
    while not driver.find_elements(By.CSS_SELECTOR, css):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{css} did not appear within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


def test_dashboard_lists_containers_and_shows_new_events_live(
    api: tuple[docker.APIClient, Berthd], browser: webdriver.Chrome
) -> None:
    client, daemon = api
    url = base_url(daemon)
    prefix = f"b{uuid.uuid4().hex[:8]}"
    existing = [
        client.create_container("busybox", ["true"], name=f"{prefix}-{n}")["Id"] for n in range(2)
    ]

    browser.get(f"{url}/")
    assert browser.title == "berth"
    for container_id in existing:
        _wait_for(browser, f'#containers tr[data-id="{container_id}"]', 10)
    assert set(_texts(browser, "#containers td.name")) == {f"{prefix}-0", f"{prefix}-1"}
    assert _texts(browser, '#counts [data-state="created"] .value') == ["2"]
    _wait_for(browser, '#connection[data-live="true"]', 10)

    # A new event, through the API: measured from the call's return to the line appearing.
    fresh = client.create_container("busybox", ["true"], name=f"{prefix}-new")["Id"]
    returned = time.monotonic()
    _wait_for(browser, f'#timeline li[data-event="Created"][data-id="{fresh}"]', 5)
    latency = time.monotonic() - returned
    print(f"dashboard event latency: {latency * 1000:.0f} ms")
    assert latency < 1.0
    _wait_for(browser, f'#containers tr[data-id="{fresh}"]', 2)
    [line] = _texts(browser, f'#timeline li[data-event="Created"][data-id="{fresh}"]')
    assert f"{prefix}-new" in line

    # The history and the inspect-at-version slider of the new container. The table is
    # redrawn as events arrive, so find and click in one step.
    browser.execute_script(
        "document.querySelector(arguments[0]).click()", f'#containers tr[data-id="{fresh}"]'
    )
    _wait_for(browser, '#history tbody tr[data-version="2"]', 5)
    slider = browser.find_element(By.ID, "slider")
    assert slider.get_attribute("max") == "2"
    browser.execute_script(
        "const s = arguments[0]; s.value = '1'; s.dispatchEvent(new Event('input'));", slider
    )
    deadline = time.monotonic() + 5
    while '"Status": "created"' not in _texts(browser, "#document")[0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _texts(browser, "#slider-label")[0].startswith("v1 · Created")
