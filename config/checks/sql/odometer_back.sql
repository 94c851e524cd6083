-- odometer_back: samples whose odometer is below the vehicle's previous sample's (docs/checks.md,
-- "Raw-data checks"). ONE SELECT, no trailing semicolon, comments only at the top. Failing rows:
-- one per sample in [data_interval_start, data_interval_end) whose odometer is more than
-- odometer_tolerance_km below that of the vehicle's previous sample (by time, at most lookback_s
-- earlier): id, seq, ts, detail. Only the step down is reported; the step back up that follows a
-- single bad sample is a rise. Rows of one (id, timestamp_iso, odometer) count once.
WITH
k AS (
  SELECT id, MIN(seq) AS seq, timestamp_iso AS ts, date_part('epoch', timestamp_iso) AS t, odometer
  FROM lake.vehicle_kinematic
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                   - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)
    AND hour >= CASE WHEN CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE)
                     THEN CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER) ELSE 0 END
    AND hour <= CASE WHEN CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE)
                     THEN CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND) AS INTEGER) ELSE 23 END
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND id IS NOT NULL AND odometer IS NOT NULL
  GROUP BY id, timestamp_iso, odometer
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
