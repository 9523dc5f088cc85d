"""Backends that ship with the core; each is registered through the ``queuekit.backends`` entry point."""
