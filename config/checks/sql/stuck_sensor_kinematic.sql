-- stuck_sensor (vehicle_kinematic): a field that repeats one value in every sample of a message
-- while the vehicle moves (docs/checks.md, "Raw-data checks"). ONE SELECT, no trailing
-- semicolon, comments only at the top. Failing rows: one per message (id, seq) with at least
-- stuck_min_samples samples, its first sample in [data_interval_start, data_interval_end):
--  - speed one value although the position or the odometer took 3 or more values;
--  - odometer one value although the position took 3 or more values or a speed >=
--    stuck_moving_kmh was reported;
--  - lat one value although two samples after the first report speed >= stuck_moving_kmh on a
--    heading with a north-south part (|cos heading| >= 0.2: at 10 km/h that moves lat by 5 units
--    of its 6th decimal a second); lng likewise with an east-west part (|sin heading| >= 0.2).
--    Two: a sample's position is where the step before it led, so the last sample of a message
--    can report the heading of a turn its position does not show yet. This also catches a stuck
--    heading that points across the road the vehicle now drives.
-- "3 or more": one bad sample of another anomaly (a GPS jump, an odometer step back) in a parked
-- vehicle's message adds one value, which is not movement.
SELECT id, seq, MIN(timestamp_iso) AS ts,
       CASE WHEN COUNT(DISTINCT speed) = 1 THEN 'speed stuck at ' || CAST(MIN(speed) AS VARCHAR)
            WHEN COUNT(DISTINCT odometer) = 1 THEN 'odometer stuck at ' || CAST(MIN(odometer) AS VARCHAR)
            WHEN COUNT(DISTINCT lat) = 1 THEN 'lat stuck at ' || CAST(MIN(lat) AS VARCHAR)
            ELSE 'lng stuck at ' || CAST(MIN(lng) AS VARCHAR) END AS detail
FROM (
  SELECT id, seq, timestamp_iso, lat, lng, speed, odometer,
         CASE WHEN speed >= CAST({{ params.stuck_moving_kmh }} AS DOUBLE PRECISION)
                   AND timestamp_iso > MIN(timestamp_iso) OVER (PARTITION BY id, seq)
              THEN heading END AS moving_heading
  FROM lake.vehicle_kinematic
  WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
       AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS INTEGER) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER))
       OR (dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS INTEGER))
       OR (dt > CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND dt < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE))
       OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER)))
    AND id IS NOT NULL AND seq IS NOT NULL
) k
GROUP BY id, seq
HAVING MIN(date_part('epoch', timestamp_iso)) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
   AND MIN(date_part('epoch', timestamp_iso)) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
   AND COUNT(DISTINCT timestamp_iso) >= {{ params.stuck_min_samples }}
   AND ((COUNT(DISTINCT speed) = 1
         AND (COUNT(DISTINCT odometer) > 2 OR COUNT(DISTINCT lat) > 2 OR COUNT(DISTINCT lng) > 2))
     OR (COUNT(DISTINCT odometer) = 1
         AND (COUNT(DISTINCT lat) > 2 OR COUNT(DISTINCT lng) > 2
              OR MAX(speed) >= CAST({{ params.stuck_moving_kmh }} AS DOUBLE PRECISION)))
     OR (COUNT(DISTINCT lat) = 1
         AND SUM(CASE WHEN abs(cos(radians(moving_heading))) >= 0.2 THEN 1 ELSE 0 END) >= 2)
     OR (COUNT(DISTINCT lng) = 1
         AND SUM(CASE WHEN abs(sin(radians(moving_heading))) >= 0.2 THEN 1 ELSE 0 END) >= 2))
