# Databricks notebook source
LAKE = "abfss://lake@contosolake.dfs.core.windows.net"
CATALOG = "main"
