// Databricks notebook source
import org.apache.spark.sql.expressions.Window
import org.apache.spark.sql.functions._

// COMMAND ----------

val w = Window.partitionBy("user_id").orderBy("ts")
spark.table("bronze.events").withColumn("prev_ts", lag("ts", 1).over(w)).write.mode("overwrite").saveAsTable("silver.sessions")
