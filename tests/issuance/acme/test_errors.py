"""Every ACME error type the server promises, each from a real request over HTTPS:
bad JWS, algorithms, nonces, URLs, accounts, names outside the EAB policy, CSRs,
oversized bodies; and the headers every response carries (Replay-Nonce, Link
rel="index", Location)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance.acme.eab import b64url
from tests.issuance.acme.support import (
    AcmeServer,
    RawClient,
    acme_client,
    answer,
    as_raw,
    create_eab,
    make_csr,
)

pytestmark = pytest.mark.slow
ERROR = "urn:ietf:params:acme:error:"


def registered(server: AcmeServer) -> RawClient:
    """A raw client whose key is a registered account."""
    acme = acme_client(server)
    assert acme.net.account is not None
    return as_raw(server, acme)


def problem(response: object) -> tuple[int, str, dict[str, str]]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers.get("Replay-Nonce"), "every error carries a fresh nonce"
    assert 'rel="index"' in response.headers.get("Link", "")
    return response.status_code, response.json()["type"].removeprefix(ERROR), dict(response.headers)


def test_directory_and_nonce_headers(acme_server: AcmeServer) -> None:
    raw = RawClient(acme_server)
    assert raw.directory["meta"]["externalAccountRequired"] is True
    assert raw.directory["renewalInfo"].endswith("/acme/renewal-info")
    for name in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"):
        assert raw.directory[name].startswith(acme_server.url + "/acme/")
    head = raw.http.head(raw.directory["newNonce"])
    get = raw.http.get(raw.directory["newNonce"])
    assert head.status_code == 200 and get.status_code == 204
    assert head.headers["Replay-Nonce"] != get.headers["Replay-Nonce"]
    assert head.headers["Cache-Control"] == "no-store"
    assert 'rel="index"' in head.headers["Link"]


def test_a_replayed_nonce_is_bad_nonce_with_a_fresh_one(acme_server: AcmeServer) -> None:
    raw = registered(acme_server)
    nonce = raw.nonce()
    first = raw.post(raw.kid or "", None, nonce=nonce)
    assert first.status_code == 200, first.text
    status, kind, headers = problem(raw.post(raw.kid or "", None, nonce=nonce))
    assert (status, kind) == (400, "badNonce")
    assert headers["replay-nonce"] not in (nonce, first.headers["Replay-Nonce"])
    status, kind, _ = problem(raw.post(raw.kid or "", None, nonce="bm90LWlzc3VlZA"))
    assert (status, kind) == (400, "badNonce")
    status, kind, _ = problem(raw.post(raw.kid or "", None, nonce=""))
    assert (status, kind) == (400, "badNonce")


def test_a_jws_for_another_url_is_unauthorized(acme_server: AcmeServer) -> None:
    raw = registered(acme_server)
    other = raw.directory["newOrder"]
    status, kind, _ = problem(raw.post(raw.kid or "", None, url_in_header=other))
    assert (status, kind) == (403, "unauthorized")


def test_malformed_jws_bodies(acme_server: AcmeServer) -> None:
    raw = registered(acme_server)
    url = raw.kid or ""
    good = json.loads(raw.body(url, None))
    cases = [
        b"not json",
        json.dumps({"payload": "", "signature": "x"}).encode(),  # no protected header
        json.dumps({**good, "header": {"kid": "x"}}).encode(),  # unprotected header
        json.dumps({**good, "signature": b64url(b"\\0" * 64)}).encode(),  # forged signature
    ]
    for body in cases:
        status, kind, _ = problem(raw.post(url, raw=body))
        assert (status, kind) == (400, "malformed"), body


def test_unsupported_algorithms_are_bad_signature_algorithm(acme_server: AcmeServer) -> None:
    raw = registered(acme_server)
    url = raw.kid or ""
    for alg in ("none", "HS256", "EdDSA"):
        header = {"alg": alg, "nonce": raw.nonce(), "url": url, "kid": raw.kid}
        body = {
            "protected": b64url(json.dumps(header).encode()),
            "payload": "",
            "signature": b64url(b"sig"),
        }
        response = raw.post(url, raw=json.dumps(body).encode())
        status, kind, _ = problem(response)
        assert (status, kind) == (400, "badSignatureAlgorithm")
        assert "ES256" in response.json()["algorithms"]


def test_an_unknown_account_is_account_does_not_exist(acme_server: AcmeServer) -> None:
    raw = RawClient(acme_server)
    ghost = acme_server.url + "/acme/account/0123456789abcdef"
    status, kind, _ = problem(raw.post(raw.directory["newOrder"], {"identifiers": []}, kid=ghost))
    assert (status, kind) == (400, "accountDoesNotExist")
    status, kind, _ = problem(raw.post(raw.directory["newAccount"], {"onlyReturnExisting": True}))
    assert (status, kind) == (400, "accountDoesNotExist")


def test_an_account_without_eab_is_refused(acme_server: AcmeServer) -> None:
    raw = RawClient(acme_server)
    response = raw.post(raw.directory["newAccount"], {"termsOfServiceAgreed": True})
    status, kind, _ = problem(response)
    assert (status, kind) == (401, "externalAccountRequired")


def test_a_wrong_eab_mac_is_unauthorized(acme_server: AcmeServer) -> None:
    forged = {"kid": acme_server.eab["kid"], "hmac_key": b64url(b"k" * 32)}
    with pytest.raises(messages.Error) as refused:
        acme_client(acme_server, eab=forged)
    assert refused.value.code == "unauthorized"


def test_oversized_bodies_and_wrong_media_type(acme_server: AcmeServer) -> None:
    raw = registered(acme_server)
    url = raw.directory["newOrder"]
    status, kind, _ = problem(raw.post(url, raw=b"{" + b" " * 9000 + b"}"))
    assert (status, kind) == (413, "malformed")
    status, kind, _ = problem(raw.post(url, {"identifiers": []}, content_type="application/json"))
    assert (status, kind) == (415, "malformed")


def test_names_outside_the_eab_policy_are_rejected_identifier(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    for name in ("www.other.example", "db.secret.acme.corp.example"):
        csr, _ = make_csr([name])
        with pytest.raises(messages.Error) as refused:
            acme.new_order(csr)
        assert refused.value.code == "rejectedIdentifier", name
        assert name in str(refused.value.detail)
    raw = registered(acme_server)
    status, kind, _ = problem(
        raw.post(raw.directory["newOrder"], {"identifiers": [{"type": "email", "value": "a@b"}]})
    )
    assert (status, kind) == (400, "unsupportedIdentifier")


def test_a_csr_for_other_names_is_bad_csr(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    csr, _ = make_csr(["csr.acme.corp.example"])
    order = acme.new_order(csr)
    answer(acme_server, acme, order, "http-01")
    acme.poll_authorizations(order, datetime.now() + timedelta(seconds=60))
    other, _ = make_csr(["csr.acme.corp.example", "extra.acme.corp.example"])
    with pytest.raises(messages.Error) as refused:
        acme.finalize_order(order.update(csr_pem=other), datetime.now() + timedelta(seconds=60))
    assert refused.value.code == "badCSR"
    garbage = as_raw(acme_server, acme)
    status, kind, _ = problem(garbage.post(order.body.finalize, {"csr": b64url(b"not a csr")}))
    assert (status, kind) == (400, "badCSR")


def test_finalize_before_validation_is_order_not_ready(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    csr, _ = make_csr(["early.acme.corp.example"])
    order = acme.new_order(csr)
    raw = as_raw(acme_server, acme)
    der = x509.load_pem_x509_csr(csr).public_bytes(serialization.Encoding.DER)
    status, kind, _ = problem(raw.post(order.body.finalize, {"csr": b64url(der)}))
    assert (status, kind) == (403, "orderNotReady")


def test_a_wrong_http01_answer_invalidates_the_authorization(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    csr, _ = make_csr(["wrong.acme.corp.example"])
    order = acme.new_order(csr)
    authz = order.authorizations[0]
    challenge = next(c for c in authz.body.challenges if c.chall.typ == "http-01")
    acme_server.dns.add_a("wrong.acme.corp.example")
    acme_server.challenges.answers[challenge.chall.encode("token")] = "not-the-key-authorization"
    assert acme.net.key is not None
    acme.answer_challenge(challenge, challenge.response(acme.net.key))
    with pytest.raises(acme_errors.ValidationError) as failed:
        acme.poll_authorizations(order, datetime.now() + timedelta(seconds=60))
    body = failed.value.failed_authzrs[0].body
    assert body.status == messages.STATUS_INVALID
    error = next(c for c in body.challenges if c.chall.typ == "http-01").error
    assert error is not None and error.code == "incorrectResponse", error


def test_a_missing_txt_record_is_a_dns_error(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    csr, _ = make_csr(["notxt.acme.corp.example"])
    order = acme.new_order(csr)
    challenge = next(c for c in order.authorizations[0].body.challenges if c.chall.typ == "dns-01")
    assert acme.net.key is not None
    acme.answer_challenge(challenge, challenge.response(acme.net.key))
    with pytest.raises(acme_errors.ValidationError) as failed:
        acme.poll_authorizations(order, datetime.now() + timedelta(seconds=60))
    body = failed.value.failed_authzrs[0].body
    error = next(c for c in body.challenges if c.chall.typ == "dns-01").error
    assert error is not None and error.code == "dns", error


def test_a_revoked_eab_key_stops_its_accounts(acme_server: AcmeServer) -> None:
    from tests.issuance.acme.support import certsight

    binding = create_eab(acme_server.home, "temporary", "**.acme.corp.example")
    acme = acme_client(acme_server, eab=binding)
    revoked = certsight(acme_server.home, "acme", "eab", "revoke", "temporary")
    assert revoked.returncode == 0, revoked.stderr
    csr, _ = make_csr(["late.acme.corp.example"])
    with pytest.raises(messages.Error) as refused:
        acme.new_order(csr)
    assert refused.value.code == "unauthorized"
    listed = certsight(acme_server.home, "acme", "eab", "list", "--format", "json")
    states = {row["name"]: row["state"] for row in json.loads(listed.stdout)}
    assert states["web"] == "active" and states["temporary"] == "revoked"
    assert "hmac" not in listed.stdout.lower()
    again = certsight(
        acme_server.home,
        "acme",
        "eab",
        "create",
        "--name",
        "temporary",
        "--allow",
        "x.corp.example",
    )
    assert again.returncode == 1 and "exists" in again.stderr and "Traceback" not in again.stderr
    text = certsight(
        acme_server.home, "acme", "eab", "create", "--name", "texty", "--allow", "x.corp.example"
    )
    lines = text.stdout.splitlines()
    assert (
        text.returncode == 0
        and lines[0].startswith("kid: kid-")
        and lines[1].startswith("hmac_key: ")
    )


def test_location_headers(acme_server: AcmeServer) -> None:
    raw = registered(acme_server)
    response = raw.post(
        raw.directory["newOrder"],
        {"identifiers": [{"type": "dns", "value": "loc.acme.corp.example"}]},
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"].startswith(acme_server.url + "/acme/order/")
    assert response.headers.get("Replay-Nonce")
    assert 'rel="index"' in response.headers["Link"]
