-- mart.reefer_daily: one row per (vehicle_id, zone, day) for one data interval
-- [data_interval_start, data_interval_end) = one local day of the fleet (day = ds).
-- ONE SELECT, no trailing semicolon, comments only at the top: the scheduler runs
--   DELETE FROM mart.reefer_daily WHERE day = '{{ ds }}'; INSERT INTO mart.reefer_daily <this>
-- Columns in the order of config/warehouse/sql/schema.sql. Definitions: docs/warehouse.md, "Marts".
-- The day is the sum of its hours in mart.reefer_hourly (reefer_hourly.sql states the rules).
-- The longest excursion may span hours: a run that ends an hour (trail_s) continues through
-- the following hours that are excursion throughout (all_excursion) into the run the next
-- other hour starts with (lead_s). Gaps and islands over the day's hourly rows: g numbers the
-- hours that are not excursion throughout; group g is such an hour followed by excursion-only
-- hours, and c sums its trail_s and their excursion_s. A run across hours lasts c of group g - 1
-- plus lead_s of the first hour of group g, or c of the day's last group.
-- A row exists iff the zone has a sample in the day.
WITH
h AS (
  SELECT vehicle_id, zone, hour_start, excursion_s, longest_s, lead_s, trail_s, all_excursion,
         SUM(1 - all_excursion) OVER (PARTITION BY vehicle_id, zone ORDER BY hour_start
                                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS g
  FROM mart.reefer_hourly
  WHERE hour_start >= CAST('{{ data_interval_start }}' AS TIMESTAMP)
    AND hour_start < CAST('{{ data_interval_end }}' AS TIMESTAMP)
),
gs AS (
  SELECT vehicle_id, zone, g,
         SUM(CASE WHEN all_excursion = 1 THEN excursion_s ELSE trail_s END) AS c
  FROM h
  GROUP BY vehicle_id, zone, g
),
runs AS (
  SELECT vehicle_id, zone, MAX(longest_s) AS longest_s FROM h GROUP BY vehicle_id, zone
  UNION ALL
  SELECT h.vehicle_id, h.zone, MAX(COALESCE(gs.c, 0) + h.lead_s)
  FROM h LEFT JOIN gs ON gs.vehicle_id = h.vehicle_id AND gs.zone = h.zone AND gs.g = h.g - 1
  WHERE h.all_excursion = 0
  GROUP BY h.vehicle_id, h.zone
  UNION ALL
  SELECT vehicle_id, zone, MAX(c) FROM gs GROUP BY vehicle_id, zone
),
longest AS (
  SELECT vehicle_id, zone, MAX(longest_s) AS longest_s FROM runs GROUP BY vehicle_id, zone
),
za AS (
  SELECT vehicle_id, zone,
         SUM(monitored_s) AS monitored_s,
         SUM(excursion_s) AS excursion_s,
         SUM(door_open_s) AS door_open_s,
         SUM(door_openings) AS door_openings,
         MIN(min_temperature) AS min_temperature,
         SUM(temperature_sum) AS temperature_sum,
         SUM(temperature_n) AS temperature_n,
         MAX(max_temperature) AS max_temperature,
         SUM(samples) AS samples
  FROM mart.reefer_hourly
  WHERE hour_start >= CAST('{{ data_interval_start }}' AS TIMESTAMP)
    AND hour_start < CAST('{{ data_interval_end }}' AS TIMESTAMP)
  GROUP BY vehicle_id, zone
  HAVING SUM(samples) > 0
)
SELECT za.vehicle_id,
       za.zone,
       CAST('{{ ds }}' AS DATE) AS day,
       za.monitored_s / 60 AS monitored_min,
       za.excursion_s / 60 AS excursion_min,
       COALESCE(longest.longest_s, 0) / 60 AS longest_excursion_min,
       za.door_open_s / 60 AS door_open_min,
       za.door_openings,
       CASE WHEN za.monitored_s > 0
            THEN 100 * (1 - za.excursion_s / za.monitored_s) END AS compliance_pct,
       za.min_temperature,
       CASE WHEN za.temperature_n > 0 THEN za.temperature_sum / za.temperature_n END
         AS avg_temperature,
       za.max_temperature,
       za.samples
FROM za
LEFT JOIN longest ON longest.vehicle_id = za.vehicle_id AND longest.zone = za.zone
