-- stuck_sensor (vehicle_status): engine_rpm one value in every sample of a message while it
-- cannot be (docs/checks.md, "Raw-data checks"). ONE SELECT, no trailing semicolon, comments only
-- at the top. A running engine's rpm varies from sample to sample and is 0 exactly when the
-- ignition is off, so stuck_min_samples equal readings are a stuck sensor when the value is not 0
-- (a running engine, or one that stopped while the rpm held) or when the ignition was on in any
-- of them (a 0 held while the engine started). Failing rows: one per message (id, seq), its first
-- sample in [data_interval_start, data_interval_end). battery_voltage, fuel_level (and blackbox
-- storage_free_mb) repeat within a message on a healthy vehicle too (20%, 80%, 70% of messages):
-- not reported, and not scored (raw.json "anomaly_fields").
SELECT id, seq, MIN(timestamp_iso) AS ts, 'engine_rpm stuck at ' || CAST(MIN(engine_rpm) AS VARCHAR) AS detail
FROM lake.vehicle_status
WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
     AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS INTEGER) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER))
     OR (dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS INTEGER))
     OR (dt > CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND dt < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE))
     OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER)))
  AND id IS NOT NULL AND seq IS NOT NULL
GROUP BY id, seq
HAVING MIN(date_part('epoch', timestamp_iso)) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
   AND MIN(date_part('epoch', timestamp_iso)) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
   AND COUNT(DISTINCT timestamp_iso) >= {{ params.stuck_min_samples }}
   AND COUNT(DISTINCT engine_rpm) = 1
   AND (MIN(engine_rpm) <> 0 OR MAX(CASE WHEN ignition THEN 1 ELSE 0 END) = 1)
