SELECT DATE '{{ ds }}' AS day, count(*) AS n
FROM src, pg_sleep({{ params.sleep_s }})
WHERE ts >= TIMESTAMPTZ '{{ data_interval_start }}' AND ts < TIMESTAMPTZ '{{ data_interval_end }}'
