-- voltage_range: status samples with an impossible battery voltage (docs/checks.md, "Raw-data
-- checks"). ONE SELECT, no trailing semicolon, comments only at the top. Failing rows: one per
-- sample in [data_interval_start, data_interval_end) whose battery_voltage is outside
-- [voltage_min_v, voltage_max_v]: id, seq, ts, detail.
SELECT id, seq, timestamp_iso AS ts,
       'battery_voltage ' || CAST(battery_voltage AS VARCHAR) || ' V outside ['
         || '{{ params.voltage_min_v }}' || ', ' || '{{ params.voltage_max_v }}' || ']' AS detail
FROM lake.vehicle_status
WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE)
     AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS INTEGER) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND) AS INTEGER))
     OR (dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS INTEGER))
     OR (dt > CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND dt < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE))
     OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND) AS INTEGER)))
  AND date_part('epoch', timestamp_iso) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
  AND date_part('epoch', timestamp_iso) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
  AND (battery_voltage < CAST({{ params.voltage_min_v }} AS DOUBLE PRECISION)
       OR battery_voltage > CAST({{ params.voltage_max_v }} AS DOUBLE PRECISION))
