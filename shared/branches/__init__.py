"""Branch workspaces (issue 25): every matching feature branch gets its own Databricks folder."""
