"""The ``certsight`` command line: the list of commands, nothing else.

Command and option names are an interface: scripts depend on them (docs/cli.md). Each
command lives in its own module under ``certsight/commands/`` and is imported only when
it runs (or when help lists it), so a command's dependencies (dbt, Streamlit, the
simulator) cost nothing to the others, and product code never imports the simulator
unless ``certsight simulate`` or ``certsight run`` is asked for.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute"; the order here is the order help lists them in.
COMMANDS = {
    "ca": "certsight.commands.ca:ca",
    "issue": "certsight.commands.issue:issue",
    "revoke": "certsight.commands.revoke:revoke",
    "renew-early": "certsight.commands.renew_early:renew_early",
    "serve": "certsight.commands.serve:serve",
    "token": "certsight.commands.token:token",
    "acme": "certsight.commands.acme:acme",
    "crl": "certsight.commands.crl:crl",
    "publish": "certsight.commands.publish:publish",
    "package": "certsight.commands.package:package_command",
    "ingest": "certsight.commands.ingest:ingest",
    "lake": "certsight.commands.lake:lake",
    "build": "certsight.commands.build:build",
    "alerts": "certsight.commands.alerts:alerts",
    "sql": "certsight.commands.sql:sql",
    "report": "certsight.commands.report:report",
    "dashboard": "certsight.commands.dashboard:dashboard",
    "docs": "certsight.commands.docs:docs",
    "simulate": "certsight.commands.simulate:simulate",
    "run": "certsight.commands.run:run",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern)."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self._lazy, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="certsight")
def main() -> None:
    """certsight: certificate lifecycle services and the intelligence on their traffic."""


if __name__ == "__main__":
    main()
