"""``certsight package``: one Lambda zip per deployable unit, under ``dist/``.

The logic is ``certsight.packaging``; this adapter parses the arguments, prints one line
per unit as it is built on stdout (what a script reads), the steps before it on stderr
(pip and the compiler take a while for ingest, and a silent minute looks like a hang),
and turns the build's own errors into a message and exit status 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from certsight.packaging import (
    UNITS,
    BuiltUnit,
    PackagingError,
    build_units,
    lambda_target,
    selected_units,
)
from certsight.packaging.target import MACHINES


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def _report(built: BuiltUnit) -> None:
    click.echo(
        f"{built.path.name:<15} {_mib(built.zip_bytes):>10}  ({_mib(built.unpacked_bytes)} "
        f"unpacked, {built.files:,} files)  handler {built.unit.handler}"
    )
    if built.excluded_key_material:  # on stderr: stdout is one line per unit, for scripts
        click.echo(
            f"  left out as key material: {', '.join(built.excluded_key_material)}", err=True
        )
    for fallback in built.fallbacks:  # not what the tests ran with: said where it is seen
        click.echo(click.style("  fallback: ", fg="yellow") + fallback.describe(), err=True)
    for warning in built.warnings:
        click.echo(click.style("  warning: ", fg="yellow") + warning, err=True)


def _note(text: str) -> None:
    click.echo(click.style(text, dim=True), err=True)


@click.command("package")
@click.argument("units", nargs=-1, metavar=f"[{'|'.join(UNITS)}]...")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="folder for the zips",
)
@click.option(
    "--arch",
    "architecture",
    type=click.Choice(list(MACHINES)),
    default="x86_64",
    show_default=True,
    help="the functions' Lambda architecture: which CPU the compiled wheels are for",
)
@click.option(
    "--wheelhouse",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="install third-party wheels from this folder only, without any package index "
    "(air-gapped builds)",
)
def package_command(
    units: tuple[str, ...], out_dir: Path, architecture: str, wheelhouse: Path | None
) -> None:
    """One zip per deployable unit (all by default): the unit's package, pki/, bytecode,
    and its third-party dependencies at this environment's versions, as wheels for the
    Lambda runtime of this Python version. Needs the package index or --wheelhouse."""
    try:
        selected_units(units)  # an unknown name is refused before anything is said or built
        target = lambda_target(architecture)
        source = f"wheelhouse {wheelhouse}" if wheelhouse else "the package index"
        _note(f"building for Lambda {target.describe()} from {source}")
        build_units(
            out_dir,
            units or None,
            progress=_report,
            architecture=architecture,
            wheelhouse=wheelhouse,
            notes=_note,
        )
    except PackagingError as exc:
        raise click.ClickException(str(exc)) from exc
