"""Client publishing (business support): trust-store bundles, signed endpoint-agent
releases (TUF) with channels and staged rollout, integration scripts and documentation
for the hosts that use certsight (docs/publishing.md).

One job per module: ``cacerts`` (the CA certificates), ``truststore`` (bundles),
``keys`` and ``repository`` (the TUF repository), ``releases`` (channels, target names,
the rollout rule), ``wheel`` (the agent's wheel with its root of trust), ``scripts``
(installer and systemd units), ``publisher`` (what each ``certsight publish`` command
does), ``web`` (``certsight serve publishing``), ``settings`` (``[publishing]``). It is
built and packaged on its own (``dist/publishing.zip``) so that publishing can change
without touching validation or issuance.
"""
