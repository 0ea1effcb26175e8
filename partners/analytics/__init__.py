"""Partner analytics: fact feeds pushed down by the apps above, incremental rollups, portal reads."""
