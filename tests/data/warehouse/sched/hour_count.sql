SELECT TIMESTAMPTZ '{{ data_interval_start }}' AS hour_start, count(*) AS n, clock_timestamp() AS built_at
FROM src
WHERE ts >= TIMESTAMPTZ '{{ data_interval_start }}' AND ts < TIMESTAMPTZ '{{ data_interval_end }}'
