"""Client publishing (business support): trust-store bundles, signed endpoint-agent
releases (TUF) with channels and staged rollout, and documentation for the hosts that
use certsight.

The room is built and packaged (``dist/publishing.zip``) so that publishing can change
without touching validation or issuance; its features arrive with the publishing issue.
"""
