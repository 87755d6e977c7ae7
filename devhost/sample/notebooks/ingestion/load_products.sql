-- Databricks notebook source
CREATE TABLE IF NOT EXISTS bronze.products
USING DELTA
AS SELECT * FROM parquet.`abfss://landing@contosolake.dfs.core.windows.net/products/`

-- COMMAND ----------

OPTIMIZE bronze.products
