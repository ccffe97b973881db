"""``certsight issue``: a certificate from the home CA (issuance module)."""

from __future__ import annotations

from pathlib import Path

import click

from certsight.commands.common import errors, home_option, utc_now
from certsight.settings import Home
from issuance.operations import (
    issue_to_files,
)
from pki.keys import KeyType
from pki.store.factory import open_store


@click.command()
@click.option("--cn", "common_name", required=True, help="subject common name")
@click.option("--san", "sans", multiple=True, help="DNS name or IP address (repeatable)")
@click.option("--days", default=47, show_default=True, type=int, help="validity in days")
@click.option(
    "--csr",
    "csr_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="sign this CSR (PEM or DER) instead of generating a key",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="output folder (default HOME/certs)",
)
@click.option(
    "--key-type",
    type=click.Choice([k.value for k in KeyType]),
    default=None,
    help="key to generate (default: the CA's)",
)
@home_option
def issue(
    home: Home,
    common_name: str,
    sans: tuple[str, ...],
    days: int,
    csr_path: Path | None,
    out_dir: Path | None,
    key_type: str | None,
) -> None:
    """Issue a TLS certificate; prints its serial in hex."""
    home.pki.read_config()  # "run ca init first" before anything is created
    if csr_path and key_type:
        raise click.UsageError("--key-type chooses a key to generate; a --csr brings its own key")
    store = open_store(home.store_uri)
    try:
        files = issue_to_files(
            layout=home.pki,
            store=store,
            raw_dir=home.raw,
            clock=utc_now,
            common_name=common_name,
            sans=list(sans),
            days=days,
            out_dir=out_dir or home.certs,
            csr_path=csr_path,
            key_type=KeyType(key_type) if key_type else None,
        )
    finally:
        store.close()
    errors.print(f"certificate: {files.certificate}")
    if files.key:
        errors.print(f"key:         {files.key} (mode 0600)")
    errors.print(f"chain:       {files.chain}")
    click.echo(files.issued.record.serial)
