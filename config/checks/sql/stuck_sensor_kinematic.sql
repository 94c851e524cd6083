-- stuck_sensor (vehicle_kinematic): a field that repeats one value in every sample of a message
-- while the vehicle moves (docs/checks.md, "Raw-data checks"). ONE SELECT, no trailing
-- semicolon, comments only at the top. Failing rows: one per message (id, seq) with at least
-- stuck_min_samples samples, its first sample in [data_interval_start, data_interval_end):
--  - speed one value although the position or the odometer took 3 or more values;
--  - odometer one value although the position took 3 or more values or a speed >=
--    stuck_moving_kmh was reported;
--  - position (lat and lng) one value although the odometer took 3 or more values.
-- "3 or more": one bad sample of another anomaly (a GPS jump, an odometer step back) in a parked
-- vehicle's message adds one value, which is not movement.
-- A stuck lat or lng alone (the other still moving), or a stuck heading, is what a grid road
-- looks like, so it is not reported.
SELECT id, seq, MIN(timestamp_iso) AS ts,
       CASE WHEN COUNT(DISTINCT speed) = 1 THEN 'speed stuck at ' || CAST(MIN(speed) AS VARCHAR)
            WHEN COUNT(DISTINCT odometer) = 1 THEN 'odometer stuck at ' || CAST(MIN(odometer) AS VARCHAR)
            ELSE 'position stuck' END AS detail
FROM lake.vehicle_kinematic
WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE)
  AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)
  AND id IS NOT NULL AND seq IS NOT NULL
GROUP BY id, seq
HAVING MIN(date_part('epoch', timestamp_iso)) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
   AND MIN(date_part('epoch', timestamp_iso)) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
   AND COUNT(DISTINCT timestamp_iso) >= {{ params.stuck_min_samples }}
   AND ((COUNT(DISTINCT speed) = 1
         AND (COUNT(DISTINCT odometer) > 2 OR COUNT(DISTINCT lat) > 2 OR COUNT(DISTINCT lng) > 2))
     OR (COUNT(DISTINCT odometer) = 1
         AND (COUNT(DISTINCT lat) > 2 OR COUNT(DISTINCT lng) > 2
              OR MAX(speed) >= CAST({{ params.stuck_moving_kmh }} AS DOUBLE PRECISION)))
     OR (COUNT(DISTINCT lat) = 1 AND COUNT(DISTINCT lng) = 1 AND COUNT(DISTINCT odometer) > 2))
