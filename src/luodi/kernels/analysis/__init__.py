"""Pure aggregates of a scoring run's frame (积分制总量分析): Polars in, Polars out."""
