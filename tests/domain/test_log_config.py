"""LogConfig: json-file, local and none with what they keep; the rest refused by name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import Config, HostConfig, LogConfig
from berth.domain.errors import InvalidParameter
from berth.domain.log_config import (
    LogPolicy,
    from_human_size,
    log_policy,
    log_size_max,
    verify_log_config,
)
from berth.domain.settings import verify_settings


def config(type_: str = "", **options: str) -> LogConfig:
    return LogConfig(type=type_, config=options or None)


@pytest.mark.parametrize(
    ("log_config", "size"),
    [
        (config(), None),
        (config("json-file"), None),
        (config("k8s-file", **{"max-size": "10"}), 10),
        (config(**{"max-size": "1m"}), 1_000_000),
        (config(**{"max-size": "1.5k"}), 1_500),
        (config(**{"max-size": "2 MB"}), 2_000_000),
        (config(**{"max-size": "3MiB"}), 3_000_000),  # go-units: decimal whatever the i
        (config(**{"max-size": "1G"}), 1_000_000_000),
        (config(**{"max-size": "1m", "max-file": "1"}), 1_000_000),
        (config(**{"max-size": "1m", "max-file": "+1", "compress": "false"}), 1_000_000),
        (config(mode="blocking"), None),
        (config(mode=""), None),
    ],
)
def test_what_berth_applies(log_config: LogConfig, size: int | None) -> None:
    verify_log_config(log_config)
    assert log_size_max(log_config) == size


@pytest.mark.parametrize(
    ("log_config", "message"),
    [
        (config("syslog"), "logger: no log driver named 'syslog' is registered"),
        (config(mode="fast"), "logger: logging mode not supported: fast"),
        (
            config(**{"max-buffer-size": "4m"}),
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
        (config(mode="non-blocking"), "log opt 'mode=non-blocking' is not supported by berth"),
        (config(foo="1"), "unknown log opt 'foo' for json-file log driver"),
        (config("k8s-file", foo="1"), "unknown log opt 'foo' for k8s-file log driver"),
        (config(tag="{{.Name}}"), "log opt 'tag' is not supported by berth's json-file"),
        (config(labels="a", env="B"), "log opt 'env' is not supported by berth's json-file"),
        (config(**{"max-size": "big"}), "invalid size: 'big'"),
        (config(**{"max-size": "1m\n"}), "invalid size: '1m\n'"),
        (config(**{"max-size": "1.2.3m"}), 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'),
        (config(**{"max-size": "0"}), "max-size must be a positive number"),
        (config(**{"max-size": "0.5"}), "max-size must be a positive number"),
        (config(**{"max-size": "9" * 30 + "p"}), "max-size must be a positive number"),
        (config(**{"max-size": "9" * 400}), "max-size must be a positive number"),
        (config(**{"max-file": "x"}), 'strconv.Atoi: parsing "x": invalid syntax'),
        (
            config(**{"max-file": "9" * 20}),
            f'strconv.Atoi: parsing "{"9" * 20}": value out of range',
        ),
        (config(**{"max-file": "0"}), "max-file cannot be less than 1"),
        (config(compress="maybe"), 'strconv.ParseBool: parsing "maybe": invalid syntax'),
        (
            config(**{"max-size": "1m", "compress": "true"}),
            "compress cannot be true when max-file is less than 2 or max-size is not set",
        ),
        (
            config(**{"max-size": "1m", "max-file": "2", "compress": "true"}),
            "log opt 'compress=true' is not supported by berth",
        ),
        (config("local", foo="1"), "unknown log opt 'foo' for log driver local"),
        (config("local", tag="x"), "unknown log opt 'tag' for log driver local"),
        (config("local", **{"max-size": "big"}), "invalid value for max-size: big: invalid size"),
        (
            config("local", **{"max-file": "x"}),
            'invalid value for max-file: x: strconv.Atoi: parsing "x": invalid syntax',
        ),
        (config("local", **{"max-file": "-1", "compress": "0"}), "max file count cannot be less"),
        (config("local", **{"max-file": "1"}), "compression cannot be enabled when max file"),
        (config("local", compress="yes"), "error reading compress log option: strconv.Parse"),
        (config("local", compress="true"), "log opt 'compress=true' is not supported by berth"),
    ],
)
def test_what_berth_refuses_names_the_option(log_config: LogConfig, message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        verify_log_config(log_config)
    assert refused.value.message.removeprefix(DRIVER_FAILED).startswith(message)


DRIVER_FAILED = "failed to initialize logging driver: "


def test_a_drivers_own_refusal_is_said_as_dockerd_says_a_failed_driver() -> None:
    """dockerd finds these when it makes the driver, at the start: its words."""
    with pytest.raises(InvalidParameter) as refused:
        verify_log_config(config(**{"max-size": "bogus"}))
    assert refused.value.message == DRIVER_FAILED + "invalid size: 'bogus'"
    with pytest.raises(InvalidParameter) as unknown:
        verify_log_config(config(foo="1"))
    assert not unknown.value.message.startswith(DRIVER_FAILED)  # ValidateLogOpts, before


@pytest.mark.parametrize(
    ("log_config", "policy"),
    [
        (config(), LogPolicy()),
        (config(**{"max-file": "100"}), LogPolicy(max_file=100)),  # docker-py's test
        (config(**{"max-size": "1k", "max-file": "3"}), LogPolicy(True, 1000, 3)),
        (config("local"), LogPolicy(True, 20 * 1024 * 1024, 5)),
        (config("local", **{"max-size": "10k", "max-file": "2"}), LogPolicy(True, 10_000, 2)),
        (config("local", **{"max-file": "1", "compress": "false"}), LogPolicy(True, 20971520)),
        (config("none", anything="goes"), LogPolicy(kept=False)),  # dockerd checks nothing
        # Recorded before the checks: what can be applied.
        (config(**{"max-file": "x"}), LogPolicy()),
    ],
)
def test_what_each_driver_keeps(log_config: LogConfig, policy: LogPolicy) -> None:
    if log_config.config != {"max-file": "x"}:
        verify_log_config(log_config)
    assert log_policy(log_config) == policy


def test_create_checks_the_log_config() -> None:
    refused = HostConfig(log_config=config(**{"max-file": "2", "compress": "1"}))
    with pytest.raises(InvalidParameter, match="compress cannot be true"):
        verify_settings(Config(image="busybox"), refused)
    verify_settings(Config(image="busybox"), HostConfig(log_config=config(**{"max-size": "1k"})))


@given(
    st.text(max_size=8) | st.sampled_from(["", "json-file", "k8s-file", "local", "none"]),
    st.dictionaries(
        st.sampled_from(["max-size", "max-file", "compress", "mode", "tag", "x"]) | st.text(),
        st.text(max_size=12) | st.sampled_from(["1m", "1", "2", "true", "false", "blocking"]),
        max_size=4,
    ),
)
def test_any_log_config_is_accepted_or_refused_with_a_400(
    type_: str, options: dict[str, str]
) -> None:
    log_config = LogConfig(type=type_, config=options)
    try:
        verify_log_config(log_config)
    except InvalidParameter:
        return
    policy = log_policy(log_config)
    assert policy.max_size is None or policy.max_size >= 1
    assert policy.max_file >= 1
    assert type_ in ("", "json-file", "k8s-file", "local", "none")
    if type_ != "none":
        assert set(options) <= {"max-size", "max-file", "compress", "mode"}


@given(st.integers(1, 10**12), st.sampled_from(["", "b", "k", "kb", "KiB", "m", "g", "t"]))
def test_human_sizes_are_decimal(number: int, unit: str) -> None:
    scale = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 10**3, "m": 10**6, "g": 10**9}
    scale["t"] = 10**12
    assert from_human_size(f"{number}{unit}") == float(number) * scale[unit.lower()]
