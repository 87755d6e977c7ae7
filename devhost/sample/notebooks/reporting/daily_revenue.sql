-- Databricks notebook source
CREATE OR REPLACE VIEW gold.daily_revenue AS
SELECT date(order_ts) AS day, sum(amount) AS revenue FROM silver.orders GROUP BY 1
