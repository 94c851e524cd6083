-- gps_jump: samples whose position implies an impossible speed (docs/checks.md, "Raw-data checks").
-- ONE SELECT, no trailing semicolon, comments only at the top. Failing rows: one per jumped sample
-- whose own time is in [data_interval_start, data_interval_end): id, seq, ts, detail.
-- Rule: the haversine distance to the vehicle's previous and to its next sample (by time, each at
-- most lookback_s away), over their time difference, is above gps_max_kmh for every neighbour it
-- has (at least one). The sample that jumps back to the true track has one normal neighbour and
-- is not reported, so a teleported sample is one row. Rows of one (id, timestamp_iso, lat, lng)
-- count once (a duplicated message does not make a zero-length step). Portable as the marts'
-- SQL (config/warehouse/sql): epoch seconds, UTC literals, the (dt) partition filter for BRIN.
-- The final filter is "every neighbour it has is too fast" as two COALESCEs (the previous, else
-- the next; the next, else the previous; NULL when it has neither): PostgreSQL inlines kd, so
-- each mention of kmh_* is a haversine, and a normal sample now costs one (the first COALESCE
-- fails) instead of three (IS NOT NULL, IS NULL, >; docs/performance.md).
WITH
k AS (
  SELECT id, MIN(seq) AS seq, timestamp_iso AS ts, date_part('epoch', timestamp_iso) AS t, lat, lng
  FROM lake.vehicle_kinematic
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
    AND id IS NOT NULL AND lat IS NOT NULL AND lng IS NOT NULL
  GROUP BY id, timestamp_iso, lat, lng
),
kw AS (
  SELECT id, seq, ts, t, lat, lng,
         LAG(t) OVER w AS t_prev, LAG(lat) OVER w AS lat_prev, LAG(lng) OVER w AS lng_prev,
         LEAD(t) OVER w AS t_next, LEAD(lat) OVER w AS lat_next, LEAD(lng) OVER w AS lng_next
  FROM k
  WINDOW w AS (PARTITION BY id ORDER BY ts, seq)
),
kd AS (
  SELECT id, seq, ts, t,
         CASE WHEN t_prev IS NOT NULL AND t > t_prev
                   AND t - t_prev <= CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
              THEN 2 * 6371.0088 * ASIN(LEAST(1, SQRT(
                     POWER(SIN(RADIANS(lat - lat_prev) / 2), 2)
                     + COS(RADIANS(lat_prev)) * COS(RADIANS(lat))
                       * POWER(SIN(RADIANS(lng - lng_prev) / 2), 2)))) * 3600 / (t - t_prev)
         END AS kmh_prev,
         CASE WHEN t_next IS NOT NULL AND t_next > t
                   AND t_next - t <= CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
              THEN 2 * 6371.0088 * ASIN(LEAST(1, SQRT(
                     POWER(SIN(RADIANS(lat_next - lat) / 2), 2)
                     + COS(RADIANS(lat)) * COS(RADIANS(lat_next))
                       * POWER(SIN(RADIANS(lng_next - lng) / 2), 2)))) * 3600 / (t_next - t)
         END AS kmh_next
  FROM kw
)
SELECT id, seq, ts,
       'implied ' || CAST(CAST(ROUND(CAST(COALESCE(kmh_prev, kmh_next) AS NUMERIC), 0) AS BIGINT) AS VARCHAR)
         || ' km/h > ' || '{{ params.gps_max_kmh }}' AS detail
FROM kd
WHERE t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
  AND t < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
  AND COALESCE(kmh_prev, kmh_next) > CAST({{ params.gps_max_kmh }} AS DOUBLE PRECISION)
  AND COALESCE(kmh_next, kmh_prev) > CAST({{ params.gps_max_kmh }} AS DOUBLE PRECISION)
