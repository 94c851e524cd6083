-- rows of src in the interval (a local day in Asia/Seoul)
SELECT DATE '{{ ds }}' AS day, count(*) AS n, sum(v) AS total
FROM src
WHERE ts >= TIMESTAMPTZ '{{ data_interval_start }}' AND ts < TIMESTAMPTZ '{{ data_interval_end }}'
