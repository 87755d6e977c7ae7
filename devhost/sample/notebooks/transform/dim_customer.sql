-- Databricks notebook source
MERGE INTO gold.dim_customer t
USING bronze.customers s ON t.customer_id = s.customer_id
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *
