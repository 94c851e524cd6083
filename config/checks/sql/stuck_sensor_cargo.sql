-- stuck_sensor (cargo_temperature): a zone's reading one value in every sample of a message
-- (docs/checks.md, "Raw-data checks"). ONE SELECT, no trailing semicolon, comments only at the
-- top. Failing rows: one per message (id, seq) with such a zone, its first sample in
-- [data_interval_start, data_interval_end):
--  - temperature: a reefer probe reads with noise at 0.01 °C, so stuck_min_samples equal
--    readings in a row are a stuck probe;
--  - setpoint: a zone's setpoint differs from the one its previous and its next message (at most
--    lookback_s away) agree on. A setpoint only changes by command and then stays; one that
--    changes for one message and changes back is a stuck sensor (the simulator's repeats the
--    first zone's value into the others).
WITH
z AS (
  SELECT id, seq, zone, MIN(timestamp_iso) AS ts, date_part('epoch', MIN(timestamp_iso)) AS t,
         COUNT(DISTINCT timestamp_iso) AS n, COUNT(DISTINCT temperature) AS nt,
         COUNT(DISTINCT setpoint) AS ns, MIN(setpoint) AS sp
  FROM lake.cargo_temperature
  WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND AS DATE)
       AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND) AS INTEGER))
       OR (dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND AS DATE) AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER))
       OR (dt > CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND dt < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND AS DATE))
       OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND AS DATE) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND) AS INTEGER)))
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
          + CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND id IS NOT NULL AND seq IS NOT NULL AND zone IS NOT NULL
  GROUP BY id, seq, zone
),
zw AS (
  SELECT id, seq, zone, ts, t, n, nt, ns, sp,
         LAG(sp) OVER w AS sp_prev, LAG(t) OVER w AS t_prev,
         LEAD(sp) OVER w AS sp_next, LEAD(t) OVER w AS t_next
  FROM z
  WINDOW w AS (PARTITION BY id, zone ORDER BY ts, seq)
)
SELECT id, seq, MIN(ts) AS ts,
       CASE WHEN MAX(CASE WHEN n >= {{ params.stuck_min_samples }} AND nt = 1 THEN 1 ELSE 0 END) = 1
            THEN 'temperature stuck in zone ' || CAST(MIN(CASE WHEN n >= {{ params.stuck_min_samples }} AND nt = 1 THEN zone END) AS VARCHAR)
            ELSE 'setpoint changed for one message in zone ' || CAST(MIN(zone) AS VARCHAR) END AS detail
FROM zw
WHERE t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
  AND t < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
  AND ((n >= {{ params.stuck_min_samples }} AND nt = 1)
    OR (ns = 1 AND sp_prev = sp_next AND sp <> sp_prev
        AND t - t_prev <= CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
        AND t_next - t <= CAST({{ params.lookback_s }} AS DOUBLE PRECISION)))
GROUP BY id, seq
