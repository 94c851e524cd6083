-- odometer_back: samples whose odometer is below the vehicle's previous sample's (docs/checks.md,
-- "Raw-data checks"). ONE SELECT, no trailing semicolon, comments only at the top. Failing rows:
-- one per sample in [data_interval_start, data_interval_end) whose odometer is more than
-- odometer_tolerance_km below that of the vehicle's previous sample (by time, at most lookback_s
-- earlier): id, seq, ts, detail. Only the step down is reported; the step back up that follows a
-- single bad sample is a rise. A second copy of a row (a duplicated message) follows its twin at
-- the same time, which is no step (t > t_prev), and has its odometer: it is never reported, so
-- there is no GROUP BY to pay for before the window's sort.
WITH
k AS (
  SELECT id, seq, timestamp_iso AS ts, date_part('epoch', timestamp_iso) AS t, odometer
  FROM lake.vehicle_kinematic
  WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE)
       AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND) AS INTEGER))
       OR (dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER))
       OR (dt > CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND dt < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE))
       OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND) AS INTEGER)))
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND id IS NOT NULL AND odometer IS NOT NULL
),
kw AS (
  SELECT id, seq, ts, t, odometer,
         LAG(t) OVER w AS t_prev, LAG(odometer) OVER w AS odo_prev
  FROM k
  WINDOW w AS (PARTITION BY id ORDER BY ts, seq)
)
SELECT id, seq, ts,
       'odometer ' || CAST(odometer AS VARCHAR) || ' < previous ' || CAST(odo_prev AS VARCHAR) AS detail
FROM kw
WHERE t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
  AND t_prev IS NOT NULL AND t > t_prev
  AND t - t_prev <= CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
  AND odometer < odo_prev - CAST({{ params.odometer_tolerance_km }} AS DOUBLE PRECISION)
