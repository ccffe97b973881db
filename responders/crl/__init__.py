"""CRL service (RFC 5280 section 5): build, keep current, serve."""
