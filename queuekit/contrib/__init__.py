"""Integrations with web frameworks that live outside queuekit's core; nothing here is imported
by ``import queuekit``."""
