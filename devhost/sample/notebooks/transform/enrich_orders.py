# Databricks notebook source
orders = spark.table("silver.sales").join(spark.table("bronze.customers"), "customer_id", "left")
orders.write.mode("overwrite").saveAsTable("silver.orders")
