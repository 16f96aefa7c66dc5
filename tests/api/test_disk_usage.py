"""`docker system df`, `ps --size`, `docker history` and the prunes' filters, through
docker-py and the docker CLI, as dockerd 20.10 answers them."""

from __future__ import annotations

import docker

from .conftest import Berthd


def _ran(api: docker.APIClient, command: str, **create: object) -> str:
    container = api.create_container("busybox", ["sh", "-c", command], **create)["Id"]
    api.start(container)
    assert api.wait(container)["StatusCode"] == 0
    return str(container)


def test_system_df_says_what_images_containers_and_volumes_hold(
    berthd: Berthd, docker_api: docker.APIClient
) -> None:
    binds = docker_api.create_host_config(binds={"dfdata": {"bind": "/data", "mode": "rw"}})
    command = "dd if=/dev/zero of=/big bs=1k count=64 && dd if=/dev/zero of=/data/f bs=1k count=8"
    container = _ran(docker_api, command, host_config=binds)
    df = docker_api.df()
    assert set(df) == {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"}
    (image,) = [i for i in df["Images"] if "busybox:latest" in i["RepoTags"]]
    assert image["Containers"] == 1 and image["Size"] > 0 and image["SharedSize"] == 0
    assert df["LayersSize"] >= image["Size"]
    (entry,) = df["Containers"]
    assert entry["Id"] == container and entry["SizeRw"] >= 64 * 1024
    assert entry["SizeRootFs"] == entry["SizeRw"] + image["Size"]
    (volume,) = df["Volumes"]
    assert volume["Name"] == "dfdata"
    assert volume["UsageData"]["RefCount"] == 1 and volume["UsageData"]["Size"] >= 8 * 1024
    [listed] = docker_api.containers(all=True, size=True)
    assert (listed["SizeRw"], listed["SizeRootFs"]) == (entry["SizeRw"], entry["SizeRootFs"])
    assert "SizeRw" not in docker_api.containers(all=True)[0]
    inspected = docker_api.inspect_container(container)
    assert "SizeRw" not in inspected
    inspected = docker_api._result(
        docker_api._get(docker_api._url("/containers/{0}/json", container), params={"size": 1}),
        True,
    )
    assert (inspected["SizeRw"], inspected["SizeRootFs"]) == (entry["SizeRw"], entry["SizeRootFs"])
    shown = berthd.docker("system", "df")
    assert shown.returncode == 0, shown.stderr
    assert [line.split()[0] for line in shown.stdout.splitlines()[1:4]] == [
        "Images", "Containers", "Local",
    ]  # fmt: skip
    only = docker_api._result(
        docker_api._get(docker_api._url("/system/df"), params={"type": "volume"}), True
    )
    assert only["Images"] is None and only["Volumes"][0]["Name"] == "dfdata"
    docker_api.remove_container(container)
    docker_api.remove_volume("dfdata")


def test_history_lists_an_image_s_steps_newest_first(docker_api: docker.APIClient) -> None:
    container = _ran(docker_api, "dd if=/dev/zero of=/made bs=1k count=16")
    image = docker_api.commit(container, repository="stepped", tag="1", message="16k")["Id"]
    steps = docker_api.history("stepped:1")
    assert steps[0]["Id"] == image and steps[0]["Tags"] == ["stepped:1"]
    assert steps[0]["CreatedBy"] == "sh -c dd if=/dev/zero of=/made bs=1k count=16"
    assert steps[0]["Comment"] == "16k" and steps[0]["Size"] >= 16 * 1024
    assert all(step["Id"] == "<missing>" and step["Tags"] is None for step in steps[1:])
    docker_api.remove_container(container)
    docker_api.remove_image(image)


def test_image_prune_takes_unused_images_only(berthd: Berthd, docker_api: docker.APIClient) -> None:
    used = _ran(docker_api, "true")
    maker = _ran(docker_api, "dd if=/dev/zero of=/made bs=1k count=32")
    unused = docker_api.commit(maker, repository="unused", tag="1")["Id"]
    docker_api.remove_container(maker)
    assert docker_api.prune_images() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
    newer = docker_api.prune_images({"dangling": False, "until": "1h"})
    assert newer["ImagesDeleted"] is None  # made within the hour: spared
    pruned = docker_api.prune_images({"dangling": False})
    assert pruned["ImagesDeleted"] == [{"Untagged": "unused:1"}, {"Deleted": unused}]
    assert pruned["SpaceReclaimed"] >= 32 * 1024
    assert [i["RepoTags"] for i in docker_api.images()] == [["busybox:latest"]]
    swept = berthd.docker("system", "prune", "-f")
    assert swept.returncode == 0, swept.stderr
    assert docker_api.containers(all=True) == [] and used in swept.stdout


def test_container_prune_spares_what_its_filters_spare(docker_api: docker.APIClient) -> None:
    kept = _ran(docker_api, "true", labels={"keep": "yes"})
    other = _ran(docker_api, "true")
    assert docker_api.prune_containers({"until": "1h"})["ContainersDeleted"] is None
    pruned = docker_api.prune_containers({"label!": "keep=yes"})
    assert pruned["ContainersDeleted"] == [other]
    assert [c["Id"] for c in docker_api.containers(all=True)] == [kept]
    assert docker_api.prune_containers({"label": "keep"})["ContainersDeleted"] == [kept]
