-- built from the hourly mart: right only when every hour of the day was built first
SELECT DATE '{{ ds }}' AS day, sum(n) AS n, count(*) AS hours, max(built_at) AS newest_hour_built, clock_timestamp() AS built_at
FROM mart.hour_count
WHERE hour_start >= TIMESTAMPTZ '{{ data_interval_start }}' AND hour_start < TIMESTAMPTZ '{{ data_interval_end }}'
