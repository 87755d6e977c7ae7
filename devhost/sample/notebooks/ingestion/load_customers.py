# Databricks notebook source
# MAGIC %run ../utils/config

# COMMAND ----------

customers = spark.read.parquet(f"{LAKE}/landing/customers/")
customers.write.mode("overwrite").saveAsTable("bronze.customers")
