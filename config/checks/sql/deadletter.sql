-- dead letters of one reason (docs/checks.md, "Raw-data checks"): the rows of lake.deadletter
-- whose error_class is {{ params.error_class }}, received in [data_interval_start,
-- data_interval_end). ONE SELECT, no trailing semicolon, comments only at the top. A dead letter
-- names no message (its bytes may be the broken part), so seq is NULL and id the number of the
-- device of its MQTT topic (dev-000007: 7; NULL without one); check score counts them per device.
SELECT CASE WHEN device_id LIKE 'dev-%' THEN CAST(SUBSTRING(device_id FROM 5) AS BIGINT) END AS id,
       CAST(NULL AS BIGINT) AS seq, received_at AS ts,
       error_class || ': ' || COALESCE(error_message, '') AS detail
FROM lake.deadletter
WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE)
  AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)
  AND date_part('epoch', received_at) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
  AND date_part('epoch', received_at) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
  AND error_class = '{{ params.error_class }}'
