-- mart.reefer_hourly: one row per (vehicle_id, zone, hour_start) for one data interval
-- [data_interval_start, data_interval_end) = one hour (hour_start = the interval's start, UTC).
-- ONE SELECT, no trailing semicolon, comments only at the top: the scheduler runs
--   DELETE FROM mart.reefer_hourly WHERE <the task's delete_where>; INSERT INTO mart.reefer_hourly <this>
-- Columns in the order of config/warehouse/sql/schema.sql. Definitions: docs/warehouse.md, "Marts".
-- The hourly partials that mart.reefer_daily adds up (see vehicle_hourly.sql for the reading
-- window and the portability notes). Rules: a sample lasts until the next sample of the same
-- vehicle and zone, at most cargo_cap_s (cargo_period_s when the next one is more than lookahead_s later,
-- or absent);
-- its time counts in the hours it overlaps. It is an excursion when
-- |temperature - setpoint| > reefer_tolerance_c. The hour's samples are the ones that overlap
-- it, in time order (the one before the hour whose time reaches into it first); a run is a
-- stretch of consecutive excursion samples and lasts their overlaps summed. lead_s is the run
-- the hour starts with, trail_s the one it ends with (0 when it starts or ends inside the
-- tolerance), longest_s its longest run, all_excursion whether every sample is an excursion:
-- reefer_daily joins runs across hours from these. A door opening is a sample with the door
-- open whose previous sample (of the zone) had it closed or is more than lookback_s earlier. Counts,
-- temperatures and door openings belong to the hour of the sample's time.
WITH
c AS (
  SELECT id, zone, timestamp_iso AS ts, seq, date_part('epoch', timestamp_iso) AS t,
         temperature, door_open,
         CASE WHEN ABS(temperature - setpoint)
                   > CAST({{ params.reefer_tolerance_c }} AS DOUBLE PRECISION)
              THEN 1 ELSE 0 END AS exc
  FROM lake.cargo_temperature
  WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                    - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
          AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                             - INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER)
          AND hour <= CASE WHEN CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
                                = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                       - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
                           THEN CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND) AS INTEGER)
                           ELSE 23 END)
      OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                    + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
          AND hour >= CASE WHEN CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
                                = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                       - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
                           THEN 24 ELSE 0 END
          AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                             + INTERVAL '{{ params.lookahead_s }}' SECOND) AS INTEGER)))
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
          + CAST({{ params.lookahead_s }} AS DOUBLE PRECISION)
    AND id IS NOT NULL AND zone IS NOT NULL
),
cw AS (
  SELECT id, zone, ts, seq, t, temperature, door_open, exc,
         CASE WHEN t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
              THEN 1 ELSE 0 END AS own,
         GREATEST(0, LEAST(t + LEAST(CASE WHEN LEAD(t) OVER w - t <= CAST({{ params.lookahead_s }} AS DOUBLE PRECISION)
                                          THEN LEAD(t) OVER w - t
                                          ELSE CAST({{ params.cargo_period_s }} AS DOUBLE PRECISION) END,
                                     CAST({{ params.cargo_cap_s }} AS DOUBLE PRECISION)),
                           date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP)))
                     - GREATEST(t, date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))))
           AS dur,
         CASE WHEN door_open
                   AND NOT (COALESCE(LAG(door_open) OVER w, FALSE)
                            AND t - LAG(t) OVER w <= CAST({{ params.lookback_s }} AS DOUBLE PRECISION))
              THEN 1 ELSE 0 END AS door_opened
  FROM c
  WINDOW w AS (PARTITION BY id, zone ORDER BY ts, seq)
),
ci AS (
  SELECT id, zone, ts, seq, temperature, door_open, exc, own, dur, door_opened,
         CASE WHEN exc = LAG(exc) OVER w THEN 0 ELSE 1 END AS run_start
  FROM cw
  WHERE t < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND (own = 1 OR dur > 0)
  WINDOW w AS (PARTITION BY id, zone ORDER BY ts, seq)
),
cr AS (
  SELECT id, zone, exc, own, dur, temperature, door_open, door_opened,
         SUM(run_start) OVER (PARTITION BY id, zone ORDER BY ts, seq
                              ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run
  FROM ci
),
runs AS (
  SELECT id, zone, run, MAX(exc) AS exc, SUM(dur) AS run_s FROM cr GROUP BY id, zone, run
),
ends AS (
  SELECT id, zone,
         MAX(CASE WHEN exc = 1 THEN run_s ELSE 0 END) AS longest_s,
         MAX(CASE WHEN run = 1 AND exc = 1 THEN run_s ELSE 0 END) AS lead_s,
         MAX(run) AS nruns
  FROM runs
  GROUP BY id, zone
),
za AS (
  SELECT id, zone,
         SUM(dur) AS monitored_s,
         SUM(CASE WHEN exc = 1 THEN dur ELSE 0 END) AS excursion_s,
         SUM(CASE WHEN door_open THEN dur ELSE 0 END) AS door_open_s,
         SUM(own * door_opened) AS door_openings,
         MIN(CASE WHEN own = 1 THEN temperature END) AS min_temperature,
         MAX(CASE WHEN own = 1 THEN temperature END) AS max_temperature,
         SUM(CASE WHEN own = 1 THEN temperature END) AS temperature_sum,
         SUM(CASE WHEN own = 1 AND temperature IS NOT NULL THEN 1 ELSE 0 END) AS temperature_n,
         MIN(exc) AS min_exc,
         SUM(own) AS samples
  FROM cr
  GROUP BY id, zone
)
SELECT za.id AS vehicle_id,
       za.zone,
       CAST('{{ data_interval_start }}' AS TIMESTAMP) AS hour_start,
       za.monitored_s,
       za.excursion_s,
       ends.longest_s,
       ends.lead_s,
       COALESCE(tr.run_s, 0) AS trail_s,
       CASE WHEN za.min_exc = 1 THEN 1 ELSE 0 END AS all_excursion,
       za.door_open_s,
       za.door_openings,
       za.min_temperature,
       za.max_temperature,
       za.temperature_sum,
       za.temperature_n,
       za.samples
FROM za
JOIN ends ON ends.id = za.id AND ends.zone = za.zone
LEFT JOIN runs tr ON tr.id = za.id AND tr.zone = za.zone AND tr.run = ends.nruns AND tr.exc = 1
