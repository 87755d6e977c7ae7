"""Thin trigger handlers: parse, validate, call ``shared/``, respond."""
