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
from issuance.signers import KmsSigner, KmsSignerError
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
@click.option(
    "--issuing-kms-key",
    "kms_key_id",
    metavar="KEY_ID",
    default=None,
    help="the issuing CA's key is this AWS KMS key (id, ARN or alias; ECC_NIST_P256, "
    "SIGN_VERIFY) instead of a file",
)
@click.option(
    "--kms-region", default=None, help="region of the KMS key (default: the AWS default chain)"
)
@click.option(
    "--kms-endpoint-url",
    default=None,
    help="another KMS endpoint: a VPC endpoint, a test server (default: AWS's)",
)
@home_option
def ca_init(
    home: Home,
    base_url: str,
    key_type: str,
    org: str,
    kms_key_id: str | None,
    kms_region: str | None,
    kms_endpoint_url: str | None,
) -> None:
    """Create a root CA, an issuing CA and a delegated OCSP signer under HOME/pki."""
    if not base_url.startswith(("http://", "https://")):
        raise click.BadParameter("must start with http:// or https://", param_hint="--base-url")
    if kms_key_id is None and (kms_region or kms_endpoint_url):
        raise click.UsageError("--kms-region and --kms-endpoint-url need --issuing-kms-key")
    now = utc_now()
    layout = home.pki
    signer = None
    try:  # KMS answers and signs before init_ca writes a file: its errors leave no CA
        if kms_key_id is not None:
            signer = KmsSigner.open(kms_key_id, region=kms_region, endpoint_url=kms_endpoint_url)
        material = init_ca(
            layout,
            base_url=base_url,
            key_type=KeyType(key_type),
            now=now,
            organization=org,
            issuing_signer=signer,
        )
    except KmsSignerError as exc:
        raise click.ClickException(str(exc)) from exc
    store = open_store(home.store_uri)
    try:
        register_ca_material(layout=layout, store=store, raw_dir=home.raw, now=now)
        sign_crls(layout, store, open_crl_store(home.crl_location), utc_now)
    except KmsSignerError as exc:  # the CA exists; only its first CRLs are missing
        raise click.ClickException(
            f"CA created under {layout.root}, but its first CRLs were not signed: {exc}; "
            "run `certsight crl update` once KMS answers"
        ) from exc
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
    issuing_key = layout.issuing_key.name if signer is None else None
    files = ", ".join(n for n in (issuing_key, layout.signer_key.name) if n)
    console.print(
        f"keys: {files}, {layout.root_signer_key.name} (mode 0600); "
        f"{layout.root_key.name}: move it offline in production"
    )
    if signer is not None:
        console.print(f"issuing CA key: in AWS KMS, {signer.key_id} (recorded in ca.json)")
    console.print(f"first CRLs signed and stored in {home.crl_location}")
