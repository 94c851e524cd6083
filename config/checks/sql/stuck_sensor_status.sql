-- stuck_sensor (vehicle_status): engine_rpm one value in every sample of a message while the
-- ignition is on (docs/checks.md, "Raw-data checks"). ONE SELECT, no trailing semicolon, comments
-- only at the top. A running engine's rpm varies from sample to sample; stuck_min_samples equal
-- readings with the ignition on are a stuck sensor. Failing rows: one per message (id, seq), its
-- first sample in [data_interval_start, data_interval_end). battery_voltage and fuel_level repeat
-- within a minute on a healthy vehicle too: not reported.
SELECT id, seq, MIN(timestamp_iso) AS ts, 'engine_rpm stuck at ' || CAST(MIN(engine_rpm) AS VARCHAR) AS detail
FROM lake.vehicle_status
WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE)
  AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)
  AND id IS NOT NULL AND seq IS NOT NULL
GROUP BY id, seq
HAVING MIN(date_part('epoch', timestamp_iso)) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
   AND MIN(date_part('epoch', timestamp_iso)) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
   AND COUNT(DISTINCT timestamp_iso) >= {{ params.stuck_min_samples }}
   AND COUNT(DISTINCT engine_rpm) = 1
   AND SUM(CASE WHEN ignition THEN 1 ELSE 0 END) = COUNT(*)
