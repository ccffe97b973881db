"""Reading certificates and CSRs as people hand them over: PEM or DER, one or many."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509


class CertificateFileError(ValueError):
    pass


def load_pem_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise CertificateFileError(f"{path}: no such file (run `certsight ca init`?)") from None
    except ValueError as exc:
        raise CertificateFileError(f"{path}: not a PEM certificate ({exc})") from None


def load_csr(path: Path) -> x509.CertificateSigningRequest:
    data = path.read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise CertificateFileError(f"{path}: not a certificate signing request ({exc})") from None


def load_pem_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (a chain file), in file order."""
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except FileNotFoundError:
        raise CertificateFileError(f"{path}: no such file (run `certsight ca init`?)") from None
    except ValueError as exc:
        raise CertificateFileError(f"{path}: not a PEM certificate bundle ({exc})") from None


def pem_bundle(certificates: list[x509.Certificate] | tuple[x509.Certificate, ...]) -> str:
    """Certificates as one PEM text, in the order given."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)
