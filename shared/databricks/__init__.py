"""Databricks adapters (built on databricks-sdk)."""
