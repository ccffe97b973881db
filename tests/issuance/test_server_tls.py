"""The issuance server's own certificate: issued by the home CA, kept while good,
issued again past two thirds of its life or for a new host name."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography import x509

from issuance.api.tls import ensure_server_certificate
from pki.certificates import IssuedCertificate
from pki.pem import load_pem_certificate
from tests.conftest import make_home
from tests.issuance.support import utc_now


def test_issued_once_kept_then_renewed_when_due(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home")
    recorded: list[IssuedCertificate] = []
    folder = home.home.issuance / "tls"
    now = utc_now()
    first = ensure_server_certificate(
        home.home.pki, folder, host="127.0.0.1", now=now, on_issued=recorded.append
    )
    leaf = load_pem_certificate(first.certificate)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"127.0.0.1", "localhost"} <= {str(n.value) for n in sans}
    assert oct(first.key.stat().st_mode & 0o777) == "0o600"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    leaf.verify_directly_issued_by(load_pem_certificate(home.home.pki.issuing_cert))
    assert len(recorded) == 1 and recorded[0].record.profile == "issuance-server"

    ensure_server_certificate(home.home.pki, folder, host="127.0.0.1", now=now + timedelta(days=1))
    assert load_pem_certificate(first.certificate) == leaf  # still good: kept

    later = ensure_server_certificate(
        home.home.pki, folder, host="127.0.0.1", now=now + timedelta(days=21)
    )
    assert load_pem_certificate(later.certificate) != leaf  # past 2/3 of 30 days

    moved = ensure_server_certificate(
        home.home.pki, folder, host="issuance.corp.example", now=now + timedelta(days=22)
    )
    renamed = load_pem_certificate(moved.certificate)
    sans = renamed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "issuance.corp.example" in {str(n.value) for n in sans}
