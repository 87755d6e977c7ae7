# Databricks notebook source
# MAGIC %md
# MAGIC # Load sales
# MAGIC Reads the daily sales extract landed by Data Factory into the bronze table.

# COMMAND ----------

dbutils.widgets.text("run_date", "")
run_date = dbutils.widgets.get("run_date")

# COMMAND ----------

df = spark.read.option("header", True).csv(f"abfss://landing@contosolake.dfs.core.windows.net/sales/{run_date}/")
df.write.mode("append").saveAsTable("bronze.sales")
