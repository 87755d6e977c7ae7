"""Databricks notebook deployment: Git overwrites the shared workspace folders, incrementally."""
