"""RAW logs and certificate material -> the Parquet LAKE, exactly once."""
