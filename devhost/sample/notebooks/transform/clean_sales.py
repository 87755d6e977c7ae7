# Databricks notebook source
from pyspark.sql import functions as F

# COMMAND ----------

sales = spark.table("bronze.sales").dropDuplicates(["order_id"]).filter(F.col("amount") > 0)
sales.write.mode("overwrite").saveAsTable("silver.sales")
