# Databricks notebook source
display(spark.sql("SELECT customer_id, sum(amount) AS spend FROM silver.orders GROUP BY 1 ORDER BY 2 DESC LIMIT 20"))
