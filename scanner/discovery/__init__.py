"""Discovery modules: one file per protocol; they observe, they never name a vendor."""
