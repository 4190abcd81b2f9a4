"""Archive: night-partitioned Parquet layout, synthetic generator, unified readers."""
