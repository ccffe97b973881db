"""OCSP responder (RFC 6960, RFC 5019 lightweight profile): a pure core and its parts."""
