-- marts.samples_and_distance: the vehicles of one day whose kinematic samples in the lake differ
-- from mart.vehicle_daily's count (a vehicle missing on either side included), or whose
-- distance_km exceeds the odometer span of the day's samples by more than
-- params.odometer_tolerance_km (the first sample's rise over the previous day's last one).
WITH l AS (
  SELECT id, COUNT(*) AS samples, MAX(odometer) - MIN(odometer) AS odometer_span_km
  FROM lake.vehicle_kinematic
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE)
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)
    AND timestamp_iso >= CAST('{{ data_interval_start }}' AS TIMESTAMPTZ)
    AND timestamp_iso < CAST('{{ data_interval_end }}' AS TIMESTAMPTZ)
    AND id IS NOT NULL
  GROUP BY id
),
m AS (
  SELECT vehicle_id AS id, samples, distance_km FROM mart.vehicle_daily
  WHERE day = CAST('{{ ds }}' AS DATE)
)
SELECT COALESCE(l.id, m.id) AS id, l.samples AS lake_samples, m.samples AS mart_samples,
       l.odometer_span_km, m.distance_km
FROM l FULL JOIN m ON m.id = l.id
WHERE l.samples IS DISTINCT FROM m.samples
   OR m.distance_km > l.odometer_span_km + {{ params.odometer_tolerance_km }}
