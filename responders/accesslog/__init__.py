"""Access logs: one JSON record per request, with the LAKE's field names."""
