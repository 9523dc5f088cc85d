"""queuekit against each native engine, side by side: ``python -m benchmarks`` (see run.py)."""
