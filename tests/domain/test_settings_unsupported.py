"""Settings berth does not apply yet are refused by verify_settings, naming the setting."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.config import Config, HostConfig
from berth.domain.errors import InvalidParameter
from berth.domain.settings import verify_settings

CONFIG = Config(image="busybox", cmd=("true",))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"open_stdin": True}, "OpenStdin (-i) is not supported by berth yet"),
        ({"attach_stdin": True}, "AttachStdin (-a stdin) is not supported by berth yet"),
        ({"stdin_once": True}, "StdinOnce (-i) is not supported by berth yet"),
        ({"tty": True}, "Tty (-t) is not supported by berth yet"),
        # What `docker run -it` sends: the first setting is named.
        (
            {"open_stdin": True, "attach_stdin": True, "stdin_once": True, "tty": True},
            "OpenStdin (-i) is not supported by berth yet",
        ),
    ],
)
def test_interactive_settings_are_refused_with_a_400_naming_them(
    changes: dict[str, bool], message: str
) -> None:
    with pytest.raises(InvalidParameter) as refused:
        verify_settings(replace(CONFIG, **changes), HostConfig())
    assert (refused.value.http_status, refused.value.message) == (400, message)


@given(stdout=st.booleans(), stderr=st.booleans())
def test_attaching_stdout_and_stderr_is_accepted(stdout: bool, stderr: bool) -> None:
    """Plain `docker run` attaches both outputs, `run -d` neither: both keep working."""
    config = replace(CONFIG, attach_stdout=stdout, attach_stderr=stderr)
    assert verify_settings(config, HostConfig()) == []
