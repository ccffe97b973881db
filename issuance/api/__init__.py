"""The issuance API: HTTP adapters over issuance.service."""
