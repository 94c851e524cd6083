-- mart.reefer_daily: one row per (vehicle_id, zone, day) for one data interval
-- [data_interval_start, data_interval_end) = one local day of the fleet (day = ds).
-- ONE SELECT, no trailing semicolon, comments only at the top: the scheduler runs
--   DELETE FROM mart.reefer_daily WHERE day = '{{ ds }}'; INSERT INTO mart.reefer_daily <this>
-- Columns in the order of config/warehouse/sql/schema.sql. Definitions: docs/warehouse.md, "Marts".
-- Rules: a sample lasts until the next sample of the same vehicle and zone, at most
-- cargo_cap_s (cargo_period_s for the last one), never past the interval's end. It is an
-- excursion when |temperature - setpoint| > reefer_tolerance_c. The longest excursion is the
-- longest run of consecutive excursion samples within the interval (their summed durations).
-- A door opening is a sample with the door open whose previous sample (of the zone) had it
-- closed or is absent. Averages are per sample. Rows up to lookback_s before and after the
-- interval give the first sample its predecessor and the last its successor.
WITH
c AS (
  SELECT id, zone, timestamp_iso AS ts, seq, date_part('epoch', timestamp_iso) AS t,
         temperature, door_open,
         CASE WHEN ABS(temperature - setpoint)
                   > CAST({{ params.reefer_tolerance_c }} AS DOUBLE PRECISION)
              THEN 1 ELSE 0 END AS exc
  FROM lake.cargo_temperature
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                   - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                   + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
          + CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND id IS NOT NULL AND zone IS NOT NULL
),
cw AS (
  SELECT id, zone, ts, seq, t, temperature, door_open, exc,
         LEAD(t) OVER w AS t_next,
         CASE WHEN exc = LAG(exc) OVER w THEN 0 ELSE 1 END AS run_start,
         CASE WHEN door_open AND NOT COALESCE(LAG(door_open) OVER w, FALSE)
              THEN 1 ELSE 0 END AS door_opened
  FROM c
  WINDOW w AS (PARTITION BY id, zone ORDER BY ts, seq)
),
cr AS (
  SELECT id, zone, temperature, door_open, door_opened, exc,
         LEAST(COALESCE(t_next - t, CAST({{ params.cargo_period_s }} AS DOUBLE PRECISION)),
               CAST({{ params.cargo_cap_s }} AS DOUBLE PRECISION),
               date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP)) - t) AS dur,
         SUM(run_start) OVER (PARTITION BY id, zone ORDER BY ts, seq
                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
  FROM cw
  WHERE t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
    AND t < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
),
runs AS (
  SELECT id, zone, MAX(run_s) AS longest_s
  FROM (SELECT id, zone, run, SUM(dur) AS run_s FROM cr WHERE exc = 1 GROUP BY id, zone, run) x
  GROUP BY id, zone
),
za AS (
  SELECT id, zone,
         SUM(dur) AS monitored_s,
         SUM(CASE WHEN exc = 1 THEN dur ELSE 0 END) AS excursion_s,
         SUM(CASE WHEN door_open THEN dur ELSE 0 END) AS door_open_s,
         SUM(door_opened) AS door_openings,
         MIN(temperature) AS min_temperature,
         AVG(temperature) AS avg_temperature,
         MAX(temperature) AS max_temperature,
         COUNT(*) AS samples
  FROM cr
  GROUP BY id, zone
)
SELECT za.id AS vehicle_id,
       za.zone,
       CAST('{{ ds }}' AS DATE) AS day,
       za.monitored_s / 60 AS monitored_min,
       za.excursion_s / 60 AS excursion_min,
       COALESCE(runs.longest_s, 0) / 60 AS longest_excursion_min,
       za.door_open_s / 60 AS door_open_min,
       za.door_openings,
       CASE WHEN za.monitored_s > 0
            THEN 100 * (1 - za.excursion_s / za.monitored_s) END AS compliance_pct,
       za.min_temperature,
       za.avg_temperature,
       za.max_temperature,
       za.samples
FROM za
LEFT JOIN runs ON runs.id = za.id AND runs.zone = za.zone
