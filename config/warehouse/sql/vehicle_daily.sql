-- mart.vehicle_daily: one row per (vehicle_id, day) for one data interval
-- [data_interval_start, data_interval_end) = one local day of the fleet (day = ds).
-- ONE SELECT, no trailing semicolon, comments only at the top: the scheduler runs
--   DELETE FROM mart.vehicle_daily WHERE day = '{{ ds }}'; INSERT INTO mart.vehicle_daily <this>
-- Columns in the order of config/warehouse/sql/schema.sql. Definitions: docs/warehouse.md, "Marts".
-- The day is the sum of its hours in mart.vehicle_hourly (vehicle_hourly.sql states the rules;
-- every hourly column adds up, so the day equals the same rules applied to the whole day).
-- A row exists iff the vehicle has a kinematic sample in the day.
SELECT vehicle_id,
       CAST('{{ ds }}' AS DATE) AS day,
       SUM(distance_km) AS distance_km,
       SUM(gps_distance_km) AS gps_distance_km,
       SUM(drive_s) AS drive_s,
       SUM(idle_s) AS idle_s,
       SUM(engine_on_s) AS engine_on_s,
       SUM(engine_on_s) / (date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
                           - date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP)))
         AS utilization,
       SUM(trips) AS trips,
       MAX(max_speed) AS max_speed,
       SUM(speeding_s) AS speeding_s,
       SUM(harsh_accel) AS harsh_accel,
       SUM(harsh_brake) AS harsh_brake,
       CASE WHEN SUM(distance_km) > 0
            THEN CAST(SUM(harsh_accel) + SUM(harsh_brake) AS DOUBLE PRECISION) * 100
                 / SUM(distance_km) END AS harsh_per_100km,
       MIN(battery_min_v) AS battery_min_v,
       SUM(fuel_used_pct) AS fuel_used_pct,
       SUM(samples) AS samples
FROM mart.vehicle_hourly
WHERE hour_start >= CAST('{{ data_interval_start }}' AS TIMESTAMP)
  AND hour_start < CAST('{{ data_interval_end }}' AS TIMESTAMP)
GROUP BY vehicle_id
HAVING SUM(samples) > 0
