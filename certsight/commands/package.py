"""``certsight package``: one Lambda zip per deployable unit, under ``dist/``.

The logic is ``certsight.packaging``; this adapter parses the arguments, prints one line
per unit as it is built (so a slow ingest zip does not look like a hang) and turns the
build's own errors into a usage error with the message alone.
"""

from __future__ import annotations

from pathlib import Path

import click

from certsight.packaging import UNITS, BuiltUnit, PackagingError, build_units


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def _report(built: BuiltUnit) -> None:
    click.echo(
        f"{built.path.name:<15} {_mib(built.zip_bytes):>10}  ({_mib(built.unpacked_bytes)} "
        f"unpacked, {built.files:,} files)  handler {built.unit.handler}"
    )
    if built.excluded_key_material:
        click.echo(f"  left out as key material: {', '.join(built.excluded_key_material)}")
    for warning in built.warnings:
        click.echo(click.style("  warning: ", fg="yellow") + warning, err=True)


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
def package_command(units: tuple[str, ...], out_dir: Path) -> None:
    """One zip per deployable unit (all by default): the unit's package, pki/ and its
    third-party dependencies from this environment, ready for AWS Lambda."""
    try:
        build_units(out_dir, units or None, progress=_report)
    except PackagingError as exc:
        raise click.ClickException(str(exc)) from exc
