"""`berth exec`: the docker CLI's flow (create, start, inspect for the exit code).

Without -d the start hijacks the connection, copied as an attach's (terminal.py): with
-t the output is the terminal's, raw, the local terminal raw and its size sent (again on
SIGWINCH), the detach keys watched; without it, stdcopy frames onto stdout and stderr.
With -i the local stdin goes to the exec, and its end closes the exec's stdin. The
command ends with the exec's exit code.
"""

from __future__ import annotations

import click

from .flows import exec_in
from .session import connect, daemon_errors


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("-t", "--tty", "use_tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-u", "--user", default="", help="Username or UID (<name|uid>[:<group|gid>]).")
@click.option("-w", "--workdir", default="", help="Working directory inside the container.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.option("--detach-keys", default="", help="Override the key sequence for detaching.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True)
@click.pass_context
def exec_(
    ctx: click.Context,
    detach: bool,
    interactive: bool,
    use_tty: bool,
    user: str,
    workdir: str,
    env: tuple[str, ...],
    privileged: bool,
    detach_keys: str,
    container: str,
    command: tuple[str, ...],
) -> None:
    """Execute a command in a running container."""
    with daemon_errors(ctx):
        code = exec_in(
            connect(ctx),
            container,
            command,
            detach=detach,
            interactive=interactive,
            use_tty=use_tty,
            user=user,
            workdir=workdir,
            env=env,
            privileged=privileged,
            detach_keys=detach_keys,
        )
    ctx.exit(code)


exec_.name = "exec"
COMMANDS = [exec_]
