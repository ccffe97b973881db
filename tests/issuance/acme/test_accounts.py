"""Accounts after registration: update, key rollover, deactivation, the orders list,
and revocation by a certificate's own key or refused to a stranger."""

from __future__ import annotations

import json

import pytest
from acme import jws as acme_jws
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from issuance.acme.eab import b64url
from tests.issuance.acme.support import (
    AcmeServer,
    RawClient,
    acme_client,
    as_raw,
    create_eab,
    new_key,
    obtain,
)

pytestmark = pytest.mark.slow


def test_key_change_moves_the_account_to_the_new_key(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    assert acme.net.account is not None
    kid = acme.net.account.uri
    old = as_raw(acme_server, acme)
    new = new_key()
    url = old.directory["keyChange"]
    inner = acme_jws.JWS.sign(
        json.dumps({"account": kid, "oldKey": old.key.public_key().to_partial_json()}).encode(),
        key=new,
        alg=ES256,
        nonce=None,
        url=url,
    )
    changed = old.post(url, inner.to_partial_json())
    assert changed.status_code == 200, changed.text
    assert changed.headers["Location"] == kid

    fresh = RawClient(acme_server, key=new, kid=kid)
    assert fresh.post(kid, None).status_code == 200  # the new key acts for the account
    refused = old.post(kid, None)
    assert refused.status_code == 400
    assert refused.json()["type"] == "urn:ietf:params:acme:error:malformed"  # bad signature

    # a key already bound to an account cannot be taken over
    other = acme_client(acme_server)
    assert other.net.account is not None and other.net.key is not None
    steal = acme_jws.JWS.sign(
        json.dumps(
            {
                "account": other.net.account.uri,
                "oldKey": other.net.key.public_key().to_partial_json(),
            }
        ).encode(),
        key=new,
        alg=ES256,
        nonce=None,
        url=url,
    )
    thief = as_raw(acme_server, other)
    conflict = thief.post(url, steal.to_partial_json())
    assert conflict.status_code == 409 and conflict.headers["Location"] == kid


def test_update_and_deactivate(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    assert acme.net.account is not None
    updated = acme.update_registration(
        acme.net.account,
        messages.Registration.from_json({"contact": ["mailto:pki@corp.example"]}),
    )
    assert updated.body.contact == ("mailto:pki@corp.example",)
    deactivated = acme.deactivate_registration(updated)
    assert deactivated.body.status == "deactivated"  # the library keeps it as text
    raw = as_raw(acme_server, acme)
    refused = raw.post(
        raw.directory["newOrder"],
        {"identifiers": [{"type": "dns", "value": "x.acme.corp.example"}]},
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "urn:ietf:params:acme:error:unauthorized"


def test_orders_list_and_revocation_by_certificate_key(acme_server: AcmeServer) -> None:
    acme = acme_client(acme_server)
    assert acme.net.account is not None
    order, key_pem = obtain(acme_server, acme, ["bykey.acme.corp.example"])
    raw = as_raw(acme_server, acme)
    listed = raw.post(acme.net.account.uri + "/orders", None).json()
    assert order.uri in listed["orders"]

    leaf = x509.load_pem_x509_certificate(order.fullchain_pem.encode())
    der = leaf.public_bytes(serialization.Encoding.DER)
    # an account of another EAB binding neither obtained it nor owns its names
    stranger_eab = create_eab(acme_server.home, "stranger", "**.elsewhere.corp.example")
    stranger = acme_client(acme_server, eab=stranger_eab)
    with pytest.raises(messages.Error) as refused:
        stranger.revoke(leaf, 0)
    assert refused.value.code == "unauthorized"
    # the certificate's own key, without any account
    holder = RawClient(
        acme_server,
        key=JWKEC(key=serialization.load_pem_private_key(key_pem, password=None)),
    )
    done = holder.post(holder.directory["revokeCert"], {"certificate": b64url(der), "reason": 4})
    assert done.status_code == 200, done.text
    again = holder.post(holder.directory["revokeCert"], {"certificate": b64url(der), "reason": 4})
    assert again.json()["type"] == "urn:ietf:params:acme:error:alreadyRevoked"
    wrong_reason = raw.post(raw.directory["revokeCert"], {"certificate": b64url(der), "reason": 7})
    assert wrong_reason.json()["type"] == "urn:ietf:params:acme:error:badRevocationReason"
