"""积分制总量分析: the whole population's points, thresholds, movement and layers, per run."""
