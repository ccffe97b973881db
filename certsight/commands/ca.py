"""``certsight ca``: set up the certificate authority (issuance module)."""

from __future__ import annotations

import click
from rich.table import Table

from certsight.commands.common import console, home_option, utc_now
from certsight.settings import Home
from issuance.crl_updater import sign_crls
from issuance.hierarchy import init_ca
from issuance.operations import (
    register_ca_material,
)
from pki.keys import KeyType
from pki.store.crls import open_crl_store
from pki.store.factory import open_store


@click.group()
def ca() -> None:
    """Certificate authority set-up."""


@ca.command("init")
@click.option(
    "--base-url",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="public URL of the responders; goes into AIA and CRL distribution points",
)
@click.option(
    "--key-type",
    type=click.Choice([k.value for k in KeyType]),
    default="ec-p256",
    show_default=True,
)
@click.option("--org", default="certsight", show_default=True, help="organisation in CA names")
@home_option
def ca_init(home: Home, base_url: str, key_type: str, org: str) -> None:
    """Create a root CA, an issuing CA and a delegated OCSP signer under HOME/pki."""
    if not base_url.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--base-url")
    now = utc_now()
    layout = home.pki
    material = init_ca(
        layout, base_url=base_url, key_type=KeyType(key_type), now=now, organization=org
    )
    store = open_store(home.store_uri)
    try:
        register_ca_material(layout=layout, store=store, raw_dir=home.raw, now=now)
        sign_crls(layout, store, open_crl_store(home.crl_location), utc_now)
    finally:
        store.close()  # checkpoints SQLite's write-ahead log: the store file is complete
    table = Table(title=f"CA created under {layout.root}", show_header=True)
    table.add_column("file")
    table.add_column("subject")
    for path, cert in (
        (layout.root_cert, material.root_cert),
        (layout.issuing_cert, material.issuing_cert),
        (layout.signer_cert, material.signer_cert),
    ):
        table.add_row(path.name, cert.subject.rfc4514_string())
    console.print(table)
    console.print(
        f"keys: {layout.issuing_key.name}, {layout.signer_key.name}, "
        f"{layout.root_signer_key.name} (mode 0600); "
        f"{layout.root_key.name}: move it offline in production"
    )
    console.print(f"first CRLs signed and stored in {home.crl_location}")
