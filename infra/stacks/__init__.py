"""One CDK stack per certsight module (validation, issuance, publishing, analytics) and
the access stack (the pipelines' roles, the audit trail)."""
