"""Pytest fixtures for the stand-in (filled in by its issue)."""
