"""Issuance (business support): the CA operations behind ``certsight ca init``, ``issue``
and ``revoke``, and the CRL updater that signs each CA's CRL and stores the bytes where
the responders read them.

This is the only module that holds CA keys (files locally, KMS in AWS). Its own
deployable unit is ``dist/issuance.zip``.
"""
