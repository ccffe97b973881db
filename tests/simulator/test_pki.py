"""The simulated PKI is real: certificates chain, CRLs verify, CertID hashes are right."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pki.identity import issuer_hashes, key_sha1
from simulator.pki import build_hierarchy, foreign_authority
from simulator.published import crl_files
from tests.simulator.conftest import END, RawRun, Simulated, small_config


def test_one_seed_one_hierarchy_with_correct_certid_hashes() -> None:
    first, again, other = build_hierarchy(5, END), build_hierarchy(5, END), build_hierarchy(6, END)
    assert first.root.certificate == again.root.certificate  # keys and signatures
    assert first.root.key_sha1 != other.root.key_sha1
    for authority in first.all:
        cert = authority.certificate
        hashes = issuer_hashes(cert)  # the responders' own computation
        assert (authority.name_sha1, authority.key_sha1) == tuple(h.hex() for h in hashes["sha1"])
        assert authority.hashes("sha256") == tuple(h.hex() for h in hashes["sha256"])
        assert authority.key_sha1 == key_sha1(cert)
    for issuing in first.issuing:
        issuing.certificate.verify_directly_issued_by(first.root.certificate)
    foreign = foreign_authority(5, 1, END)
    assert foreign.key_sha1 not in {a.key_sha1 for a in first.all}


def test_raw_certificates_chain_to_the_issuing_cas(raw_run: RawRun) -> None:
    raw = raw_run.home / "raw"
    authorities = {
        cert.subject: cert
        for path in (raw / "pki").glob("*.pem")
        for cert in x509.load_pem_x509_certificates(path.read_bytes())
    }
    # certsight's issuance events carry the certificate issued
    leaves = [
        x509.load_pem_x509_certificate(json.loads(line)["certificate_pem"].encode())
        for path in (raw / "issuance").rglob("*.jsonl.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    assert len(leaves) == raw_run.summary.certificates
    assert len({(leaf.issuer, leaf.serial_number) for leaf in leaves}) == len(leaves)
    for leaf in leaves:
        leaf.verify_directly_issued_by(authorities[leaf.issuer])
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        host = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert sans.get_values_for_type(x509.DNSName) == [host]
        assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    stapled_by_address = [
        leaf
        for leaf in leaves
        if leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.IPAddress)
    ]
    assert stapled_by_address  # some servers are reached (and staple) by address


def test_crls_are_signed_and_list_every_revocation(lake_run: Simulated) -> None:
    from simulator.enterprise import build_enterprise

    enterprise = build_enterprise(lake_run.summary.config)
    revoked = {
        (c, serial)
        for c, serial, when in zip(
            enterprise.certificates.ca.tolist(),
            enterprise.certificates.serial,
            enterprise.certificates.revoked_us.tolist(),
            strict=True,
        )
        if when < enterprise.config.end_us
    }
    listed = set()
    authorities = [*enterprise.hierarchy.issuing, enterprise.hierarchy.root]
    for index, (name, der) in enumerate(crl_files(enterprise)):
        crl = x509.load_der_x509_crl(der)
        authority = authorities[index]
        assert name.endswith(f"{authority.slug}.crl")
        assert crl.is_signature_valid(authority.key.public_key())
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier is not None and aki.key_identifier.hex() == authority.key_sha1
        listed |= {(index, entry.serial_number) for entry in crl}
    assert listed == revoked
    assert len(revoked) >= 2 + 1  # the compromised certificates and an ordinary replacement
    # What the RAW root certificate says about its key is what the CertIDs hash.
    root_pem = (enterprise.hierarchy.root.pem).decode()
    spki = (
        x509.load_pem_x509_certificate(root_pem.encode())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    assert hashlib.sha1(spki).hexdigest() == enterprise.hierarchy.root.key_sha1


def test_certificates_renew_before_they_expire_a_few_late() -> None:
    from simulator.enterprise import build_enterprise
    from simulator.inventory import NEVER

    # Planning only (no traffic): a month of 300 servers renews a few hundred times.
    enterprise = build_enterprise(small_config(days=30, servers=300, requests=200_000))
    certificates, config = enterprise.certificates, enterprise.config
    forgotten = {
        enterprise.servers.host[e.server]
        for e in enterprise.plan.expected
        if e.detector == "expired_certificate_validated"
    }
    shares = []
    for server in range(len(enterprise.servers)):
        mine = [int(i) for i in (certificates.server == server).nonzero()[0]]
        assert certificates.not_before_us[mine[0]] <= config.start_us  # day 0 is covered
        if enterprise.servers.host[server] in forgotten:
            assert len(mine) == 1 and certificates.not_after_us[mine[0]] < config.end_us
            continue
        for old, new in itertools.pairwise(mine):
            life = certificates.not_after_us[old] - certificates.not_before_us[old]
            assert certificates.switch_us[new] < certificates.not_after_us[old]
            if certificates.revoked_us[old] == NEVER:
                shares.append(
                    (certificates.not_before_us[new] - certificates.not_before_us[old]) / life
                )
            else:  # replaced early: revoked after the switch, never before
                assert certificates.revoked_us[old] > certificates.switch_us[new]
    assert shares and min(shares) > 0.55
    assert any(share > 0.9 for share in shares)  # some renewals come late
    assert sum(share < 0.8 for share in shares) > 0.8 * len(shares)  # most at two thirds
