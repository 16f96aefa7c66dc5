"""Callers' command lines as the audit trail keeps them: no secret value survives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.domain.redaction import REDACTED, command_text, redact_command

R = REDACTED


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["docker", "run", "-e", "PASSWORD=x", "busybox"],
            ["docker", "run", "-e", f"PASSWORD={R}", "busybox"],
        ),
        (["docker", "run", "-e=PASSWORD=x"], ["docker", "run", f"-e=PASSWORD={R}"]),
        (["docker", "run", "-ePASSWORD=x"], ["docker", "run", f"-ePASSWORD={R}"]),
        (["docker", "run", "-ite", "PASSWORD=x"], ["docker", "run", "-ite", f"PASSWORD={R}"]),
        (["docker", "run", "-dePASSWORD=x=y"], ["docker", "run", f"-dePASSWORD={R}"]),
        (["docker", "run", "--env", "PASSWORD=x"], ["docker", "run", "--env", f"PASSWORD={R}"]),
        (["docker", "run", "--env=PASSWORD=x"], ["docker", "run", f"--env=PASSWORD={R}"]),
        (["docker", "run", "--env=A="], ["docker", "run", f"--env=A={R}"]),
        (
            ["docker", "build", "--build-arg", "TOKEN=x", "."],
            ["docker", "build", "--build-arg", f"TOKEN={R}", "."],
        ),
        (
            ["docker", "login", "-u", "me", "-p", "x", "reg"],
            ["docker", "login", "-u", "me", "-p", R, "reg"],
        ),
        (["docker", "login", "-px"], ["docker", "login", f"-p{R}"]),
        (["docker", "login", "--password=x"], ["docker", "login", f"--password={R}"]),
        (["app", "--password", "x"], ["app", "--password", R]),
        (
            ["git", "clone", "https://me:x@example.com/r"],
            ["git", "clone", f"https://me:{R}@example.com/r"],
        ),
        # Nothing secret on the line: kept as it is.
        (["docker", "run", "-e", "HOME", "busybox"], ["docker", "run", "-e", "HOME", "busybox"]),
        (
            ["docker", "run", "--env-file", "/run/app.env", "busybox"],
            ["docker", "run", "--env-file", "/run/app.env", "busybox"],
        ),
        (
            ["docker", "run", "-p", "8080:80", "-d", "busybox"],
            ["docker", "run", "-p", "8080:80", "-d", "busybox"],
        ),
        (
            ["docker", "login", "--password-stdin", "reg"],
            ["docker", "login", "--password-stdin", "reg"],
        ),
        (
            ["docker", "run", "--name", "exec", "busybox", "-exec"],
            ["docker", "run", "--name", "exec", "busybox", "-exec"],
        ),
        (["docker", "run", "-e"], ["docker", "run", "-e"]),
    ],
)
def test_examples(argv: list[str], expected: list[str]) -> None:
    assert redact_command(argv) == expected


SECRET = "S3CR3T"
# Arguments that carry no secret and never contain the secret's marker.
PLAIN = st.sampled_from(
    [
        "docker",
        "berth",
        "run",
        "create",
        "-d",
        "-it",
        "--rm",
        "--name",
        "web",
        "-p",
        "80:80",
        "busybox",
        "sh",
        "-c",
        "echo hi",
        "--env-file",
        "/etc/app.env",
        "HOME",
        "--",
        "",
    ]
)
NAMES = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=12)
VALUES = st.text(max_size=30).filter(lambda text: "\0" not in text)


@st.composite
def secrets(draw: st.DrawFn) -> tuple[list[str], str]:
    """An argument or two passing a secret in one of the flags' spellings, and what must
    show in its place."""
    name = draw(NAMES)
    secret = SECRET + draw(VALUES)
    kept = f"{name}={R}"
    assignment = f"{name}={secret}"
    forms = [
        (["-e", assignment], kept),
        ([f"-e={assignment}"], kept),
        ([f"-e{assignment}"], kept),
        (["-ite", assignment], kept),
        (["--env", assignment], kept),
        ([f"--env={assignment}"], kept),
        (["--build-arg", assignment], kept),
        ([f"--build-arg={assignment}"], kept),
        (["--password", secret], R),
        ([f"--password={secret}"], f"--password={R}"),
    ]
    return draw(st.sampled_from(forms))


# A lone `-e` takes the next argument as its value, whatever it is: it comes with one.
PLAIN_PARTS = st.one_of(PLAIN.map(lambda plain: [plain]), st.just(["-e", "HOME"]))
PARTS = st.one_of(PLAIN_PARTS.map(lambda plain: (plain, " ".join(plain))), secrets())


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """A command line, and what each of its parts must show once redacted."""
    argv: list[str] = []
    shown: list[str] = []
    for parts, kept in draw(st.lists(PARTS, max_size=6)):
        argv += parts
        shown.append(kept)
    return argv, shown


@given(command_lines())
def test_no_secret_survives_and_each_name_does(case: tuple[list[str], list[str]]) -> None:
    argv, shown = case
    redacted = redact_command(argv)
    assert len(redacted) == len(argv)
    text = command_text(argv) or ""
    assert SECRET not in text
    for kept in shown:
        assert kept in text


@given(command_lines())
def test_redaction_is_idempotent(case: tuple[list[str], list[str]]) -> None:
    once = redact_command(case[0])
    assert redact_command(once) == once


@given(st.lists(PLAIN_PARTS, max_size=12))
def test_a_line_without_secrets_is_kept(parts: list[list[str]]) -> None:
    argv = [argument for part in parts for argument in part]
    assert redact_command(argv) == argv


@given(st.lists(VALUES, max_size=8))
def test_any_line_keeps_its_length(argv: list[str]) -> None:
    assert len(redact_command(argv)) == len(argv)
