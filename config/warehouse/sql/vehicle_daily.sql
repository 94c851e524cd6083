-- mart.vehicle_daily: one row per (vehicle_id, day) for one data interval
-- [data_interval_start, data_interval_end) = one local day of the fleet (day = ds).
-- ONE SELECT, no trailing semicolon, comments only at the top: the scheduler runs
--   DELETE FROM mart.vehicle_daily WHERE day = '{{ ds }}'; INSERT INTO mart.vehicle_daily <this>
-- Columns in the order of config/warehouse/sql/schema.sql. Definitions: docs/warehouse.md, "Marts".
-- Portable (PostgreSQL 15 and DuckDB over `lake ddl`): see docs/warehouse.md, "Marts". Times are
-- compared as epoch seconds (date_part('epoch', ...), a double in both engines); the interval's
-- bounds are UTC literals read as TIMESTAMP, so PostgreSQL folds every bound to a constant.
-- Rules: a row exists iff the vehicle has a kinematic sample in the interval. A sample lasts
-- until the next sample of the vehicle, at most kinematic_cap_s (kinematic_period_s for the
-- last one), never past the interval's end. Rows up to lookback_s before and after the
-- interval are read so the first sample has its predecessor and the last its successor.
-- Trips: a trip starts at a moving sample (speed >= moving_kmh) whose previous moving sample
-- is trip_stop_s or more earlier, absent (within lookback_s, which must be >= trip_stop_s), or
-- followed by a sample with the engine off.
WITH
k AS (
  SELECT id, timestamp_iso AS ts, seq, date_part('epoch', timestamp_iso) AS t,
         lat, lng, speed, odometer, engine_on
  FROM lake.vehicle_kinematic
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                   - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                   + INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
          + CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND id IS NOT NULL
),
kw AS (
  SELECT id, t, speed, odometer, engine_on, lat, lng,
         LEAD(t) OVER w AS t_next,
         LAG(t) OVER w AS t_prev,
         LAG(lat) OVER w AS lat_prev,
         LAG(lng) OVER w AS lng_prev,
         MAX(odometer) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS odo_prev_max,
         MAX(CASE WHEN speed >= CAST({{ params.moving_kmh }} AS DOUBLE PRECISION) THEN t END)
           OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS t_prev_moving,
         MAX(CASE WHEN NOT engine_on THEN t END)
           OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS t_prev_off
  FROM k
  WINDOW w AS (PARTITION BY id ORDER BY ts, seq)
),
ks AS (
  SELECT id, speed, engine_on, t, t_prev, t_prev_moving, t_prev_off,
         LEAST(COALESCE(t_next - t, CAST({{ params.kinematic_period_s }} AS DOUBLE PRECISION)),
               CAST({{ params.kinematic_cap_s }} AS DOUBLE PRECISION),
               date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP)) - t) AS dur,
         CASE WHEN odometer > odo_prev_max THEN odometer - odo_prev_max ELSE 0 END AS odo_delta,
         CASE WHEN t_prev IS NULL OR t_prev = t OR (lat = lat_prev AND lng = lng_prev)
                   OR lat IS NULL OR lng IS NULL OR lat_prev IS NULL OR lng_prev IS NULL THEN 0
              ELSE 2 * 6371.0088 * ASIN(LEAST(1, SQRT(
                     POWER(SIN(RADIANS(lat - lat_prev) / 2), 2)
                     + COS(RADIANS(lat_prev)) * COS(RADIANS(lat))
                       * POWER(SIN(RADIANS(lng - lng_prev) / 2), 2))))
         END AS hav_km
  FROM kw
  WHERE t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
    AND t < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
),
ka AS (
  SELECT id,
         SUM(odo_delta) AS distance_km,
         SUM(CASE WHEN hav_km > 0 AND hav_km * 3600
                       <= CAST({{ params.gps_max_kmh }} AS DOUBLE PRECISION) * (t - t_prev)
                  THEN hav_km ELSE 0 END) AS gps_distance_km,
         SUM(CASE WHEN speed >= CAST({{ params.moving_kmh }} AS DOUBLE PRECISION)
                  THEN dur ELSE 0 END) AS drive_s,
         SUM(CASE WHEN engine_on AND speed < CAST({{ params.moving_kmh }} AS DOUBLE PRECISION)
                  THEN dur ELSE 0 END) AS idle_s,
         SUM(CASE WHEN engine_on THEN dur ELSE 0 END) AS engine_on_s,
         SUM(CASE WHEN speed >= CAST({{ params.moving_kmh }} AS DOUBLE PRECISION)
                       AND (t_prev_moving IS NULL
                            OR t - t_prev_moving >= CAST({{ params.trip_stop_s }} AS DOUBLE PRECISION)
                            OR t_prev_off > t_prev_moving)
                  THEN 1 ELSE 0 END) AS trips,
         MAX(speed) AS max_speed,
         SUM(CASE WHEN speed > CAST({{ params.speeding_kmh }} AS DOUBLE PRECISION)
                  THEN dur ELSE 0 END) AS speeding_s,
         COUNT(*) AS samples
  FROM ks
  GROUP BY id
),
s AS (
  SELECT id, date_part('epoch', timestamp_iso) AS t, battery_voltage, fuel_level,
         LAG(fuel_level) OVER (PARTITION BY id ORDER BY timestamp_iso, seq) AS fuel_prev
  FROM lake.vehicle_status
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                   - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND id IS NOT NULL
),
sa AS (
  SELECT id,
         MIN(battery_voltage) AS battery_min_v,
         SUM(CASE WHEN fuel_prev > fuel_level THEN fuel_prev - fuel_level ELSE 0 END)
           AS fuel_used_pct
  FROM s
  WHERE t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
  GROUP BY id
),
ea AS (
  SELECT id,
         COUNT(DISTINCT CASE WHEN event = '{{ params.harsh_accel_event }}' THEN occurred_at END)
           AS harsh_accel,
         COUNT(DISTINCT CASE WHEN event = '{{ params.harsh_brake_event }}' THEN occurred_at END)
           AS harsh_brake
  FROM lake.vehicle_event
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) - 1
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE) + 1
    AND date_part('epoch', occurred_at)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
    AND date_part('epoch', occurred_at)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND id IS NOT NULL
  GROUP BY id
)
SELECT ka.id AS vehicle_id,
       CAST('{{ ds }}' AS DATE) AS day,
       ka.distance_km,
       ka.gps_distance_km,
       ka.drive_s,
       ka.idle_s,
       ka.engine_on_s,
       ka.engine_on_s / (date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
                         - date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP)))
         AS utilization,
       ka.trips,
       ka.max_speed,
       ka.speeding_s,
       COALESCE(ea.harsh_accel, 0) AS harsh_accel,
       COALESCE(ea.harsh_brake, 0) AS harsh_brake,
       CASE WHEN ka.distance_km > 0
            THEN CAST(COALESCE(ea.harsh_accel, 0) + COALESCE(ea.harsh_brake, 0)
                      AS DOUBLE PRECISION) * 100 / ka.distance_km END AS harsh_per_100km,
       sa.battery_min_v,
       sa.fuel_used_pct,
       ka.samples
FROM ka
LEFT JOIN sa ON sa.id = ka.id
LEFT JOIN ea ON ea.id = ka.id
