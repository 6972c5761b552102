"""Past one machine: partitioned Parquet in and out, and the same compiled policy on Apache
Spark (docs/scale.md)."""
