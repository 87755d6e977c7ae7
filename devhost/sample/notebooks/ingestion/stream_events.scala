// Databricks notebook source
import org.apache.spark.sql.functions._

// COMMAND ----------

val events = spark.readStream.format("cloudFiles")
  .option("cloudFiles.format", "json")
  .load("abfss://landing@contosolake.dfs.core.windows.net/events/")
events.writeStream.option("checkpointLocation", "/tmp/chk/events").toTable("bronze.events")
