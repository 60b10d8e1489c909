"""The virtual site: simulated camera estates in Linux network namespaces (198.18.0.0/15)."""
