"""Validation (mission-critical): the OCSP responder and the CRL server.

This package is its own deployable unit (``dist/validation.zip``). It holds the
delegated OCSP signer's key only, never a CA key: CRLs are signed by the issuance
module's CRL updater and served here as stored bytes.
"""
