"""The ACME server (RFC 8555, with renewal information per RFC 9773) of the issuance
service: ACME clients (certbot, lego, dehydrated, cert-manager) obtain certificates
under the same policy, profiles and record as the issuance API.

One job per module: ``settings`` (the ``[acme]`` table), ``problems`` (ACME error
types), ``state`` (the storage boundary) with ``store`` (SQLite) and
``dynamodb_store``, ``eab`` (External Account Binding keys), ``jws`` (request
authentication), ``accounts``, ``orders`` (orders, authorizations, challenges,
finalize), ``validation`` (http-01, dns-01, tls-alpn-01), ``ari`` (certIDs and CAs),
``certificates`` (revokeCert, renewalInfo), ``resources`` (JSON bodies), ``app``
(HTTP) and ``wiring`` (built on an ``IssuanceService``, mounted at ``/acme``).
"""
