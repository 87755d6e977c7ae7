"""Data Factory deployment: load the publish branch, parameterize, plan, apply."""
