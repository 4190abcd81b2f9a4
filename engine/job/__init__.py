"""The publishing job: job records (store), process launcher, spec validation (plan), the shared
per-batch pipeline and its two engines (Spark, local DuckDB), the runner and cluster helpers."""
