"""The PKI domain library that every certsight module may import, and which imports
nothing of certsight's own: names, serials, certificate identity (CertID hashes, key
SHA-1), revocation reasons, extensions, the OCSP request decoder, key and signer
interfaces, building a certificate or a CRL, and (``pki.store``) the certificate store
shared by validation and issuance.

It holds no key material and no process state: services pass keys, stores and clocks in.
"""
