// Databricks notebook source
spark.table("gold.daily_revenue").coalesce(1).write.mode("overwrite").json("abfss://exports@contosolake.dfs.core.windows.net/kpi/")
