"""The fingerprint engine: load YAML (load), compile per signal (index), identify devices (engine)."""
