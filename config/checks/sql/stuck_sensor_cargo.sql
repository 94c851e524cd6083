-- stuck_sensor (cargo_temperature): a zone's temperature one value in every sample of a message
-- (docs/checks.md, "Raw-data checks"). ONE SELECT, no trailing semicolon, comments only at the
-- top. A reefer probe reads with noise at 0.01 °C, so stuck_min_samples equal readings in a row
-- are a stuck probe. Failing rows: one per message (id, seq) with such a zone, its first sample in
-- [data_interval_start, data_interval_end). A stuck setpoint is a constant anyway: not reported.
SELECT id, seq, MIN(ts) AS ts, 'temperature stuck in zone ' || CAST(MIN(zone) AS VARCHAR) AS detail
FROM (
  SELECT id, seq, zone, MIN(timestamp_iso) AS ts
  FROM lake.cargo_temperature
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE)
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)
    AND id IS NOT NULL AND seq IS NOT NULL AND temperature IS NOT NULL
  GROUP BY id, seq, zone
  HAVING COUNT(DISTINCT timestamp_iso) >= {{ params.stuck_min_samples }}
     AND COUNT(DISTINCT temperature) = 1
     AND MIN(date_part('epoch', timestamp_iso)) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
     AND MIN(date_part('epoch', timestamp_iso)) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
) z
GROUP BY id, seq
