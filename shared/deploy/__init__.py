"""Deployment orchestration: the shapes every component deployer plugs into."""
