"""Certificate authority material: keys, the CA hierarchy, issuance, serials and reasons."""
