"""Building blocks of the deterministic shop data generator (see sandbox/generator.py)."""
