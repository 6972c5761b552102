"""School-place demand forecast and early warning per town and school (教育发展预警)."""
