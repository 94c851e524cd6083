-- mart.vehicle_hourly: one row per (vehicle_id, hour_start) for one data interval
-- [data_interval_start, data_interval_end) = one hour (hour_start = the interval's start, UTC).
-- ONE SELECT, no trailing semicolon, comments only at the top: the scheduler runs
--   DELETE FROM mart.vehicle_hourly WHERE <the task's delete_where>; INSERT INTO mart.vehicle_hourly <this>
-- Columns in the order of config/warehouse/sql/schema.sql. Definitions: docs/warehouse.md, "Marts".
-- The hourly partials that mart.vehicle_daily adds up: every column is a sum, a count, a MIN or
-- a MAX whose daily value is the same aggregate of the day's hours, so the daily mart never
-- reads raw rows again (docs/warehouse.md, "Why hourly partials").
-- Portable (PostgreSQL 15 and DuckDB over `lake ddl`): times are compared as epoch seconds
-- (date_part('epoch', ...)); the interval's bounds are UTC literals read as TIMESTAMP, so
-- PostgreSQL folds every bound, and the (dt, hour) conditions, to constants its BRIN index uses.
-- Rows read: lookback_s before the hour (a sample's predecessor, the trip rule, the running
-- odometer maximum) and lookahead_s after it (the last sample's successor); both under an hour.
-- Rules: a sample lasts until the next sample of the vehicle, at most kinematic_cap_s
-- (kinematic_period_s when the next one is more than lookahead_s later, or absent); its time counts in the hours it
-- overlaps, so hours add up exactly to days. Counts (samples, trips, speeds) belong to the hour
-- of the sample's time. A sample adds odometer (and GPS) distance only when the vehicle's
-- previous sample is at most lookback_s earlier: its odometer increase over the highest
-- odometer since lookback_s before the hour. Trips: a trip starts at a moving sample
-- (speed >= moving_kmh) whose previous moving sample is trip_stop_s or more earlier, absent
-- within lookback_s (which must be >= trip_stop_s), or followed by a sample with the engine off.
-- A row exists when the vehicle has a kinematic sample that overlaps the hour, a status sample
-- or an event in it.
WITH
k AS (
  SELECT id, timestamp_iso AS ts, seq, date_part('epoch', timestamp_iso) AS t,
         lat, lng, speed, odometer, engine_on
  FROM lake.vehicle_kinematic
  WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                    - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
          AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                             - INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER)
          AND hour <= CASE WHEN CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
                                = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                       - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
                           THEN CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND) AS INTEGER)
                           ELSE 23 END)
      OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                    + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
          AND hour >= CASE WHEN CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
                                = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                       - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
                           THEN 24 ELSE 0 END
          AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                             + INTERVAL '{{ params.lookahead_s }}' SECOND) AS INTEGER)))
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
          + CAST({{ params.lookahead_s }} AS DOUBLE PRECISION)
    AND id IS NOT NULL
),
kw AS (
  SELECT id, t, speed, odometer, engine_on, lat, lng,
         LEAD(t) OVER w AS t_next,
         LAG(t) OVER w AS t_prev,
         LAG(lat) OVER w AS lat_prev,
         LAG(lng) OVER w AS lng_prev,
         MAX(odometer) OVER w AS odo_prev_max,
         MAX(CASE WHEN speed >= CAST({{ params.moving_kmh }} AS DOUBLE PRECISION) THEN t END)
           OVER w AS t_prev_moving,
         MAX(CASE WHEN NOT engine_on THEN t END) OVER w AS t_prev_off
  FROM k
  WINDOW w AS (PARTITION BY id ORDER BY ts, seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
ks AS (
  SELECT id, speed, engine_on, t, t_prev, t_prev_moving, t_prev_off,
         CASE WHEN t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
              THEN 1 ELSE 0 END AS own,
         GREATEST(0, LEAST(t + LEAST(CASE WHEN t_next - t <= CAST({{ params.lookahead_s }} AS DOUBLE PRECISION)
                                          THEN t_next - t
                                          ELSE CAST({{ params.kinematic_period_s }} AS DOUBLE PRECISION) END,
                                     CAST({{ params.kinematic_cap_s }} AS DOUBLE PRECISION)),
                           date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP)))
                     - GREATEST(t, date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))))
           AS dur,
         CASE WHEN t - t_prev <= CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
                   AND odometer > odo_prev_max THEN odometer - odo_prev_max ELSE 0 END AS odo_delta,
         CASE WHEN t_prev IS NULL OR t_prev = t OR (lat = lat_prev AND lng = lng_prev)
                   OR t - t_prev > CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
                   OR lat IS NULL OR lng IS NULL OR lat_prev IS NULL OR lng_prev IS NULL THEN 0
              ELSE 2 * 6371.0088 * ASIN(LEAST(1, SQRT(
                     POWER(SIN(RADIANS(lat - lat_prev) / 2), 2)
                     + COS(RADIANS(lat_prev)) * COS(RADIANS(lat))
                       * POWER(SIN(RADIANS(lng - lng_prev) / 2), 2))))
         END AS hav_km
  FROM kw
  WHERE t < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND t >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
             - CAST({{ params.kinematic_cap_s }} AS DOUBLE PRECISION)
),
ka AS (
  SELECT id,
         SUM(own * odo_delta) AS distance_km,
         SUM(CASE WHEN own = 1 AND hav_km > 0 AND hav_km * 3600
                       <= CAST({{ params.gps_max_kmh }} AS DOUBLE PRECISION) * (t - t_prev)
                  THEN hav_km ELSE 0 END) AS gps_distance_km,
         SUM(CASE WHEN speed >= CAST({{ params.moving_kmh }} AS DOUBLE PRECISION)
                  THEN dur ELSE 0 END) AS drive_s,
         SUM(CASE WHEN engine_on AND speed < CAST({{ params.moving_kmh }} AS DOUBLE PRECISION)
                  THEN dur ELSE 0 END) AS idle_s,
         SUM(CASE WHEN engine_on THEN dur ELSE 0 END) AS engine_on_s,
         SUM(CASE WHEN own = 1 AND speed >= CAST({{ params.moving_kmh }} AS DOUBLE PRECISION)
                       AND (t_prev_moving IS NULL
                            OR t - t_prev_moving >= CAST({{ params.trip_stop_s }} AS DOUBLE PRECISION)
                            OR t_prev_off > t_prev_moving)
                  THEN 1 ELSE 0 END) AS trips,
         MAX(CASE WHEN own = 1 THEN speed END) AS max_speed,
         SUM(CASE WHEN speed > CAST({{ params.speeding_kmh }} AS DOUBLE PRECISION)
                  THEN dur ELSE 0 END) AS speeding_s,
         SUM(own) AS samples
  FROM ks
  WHERE own = 1 OR dur > 0
  GROUP BY id
),
s AS (
  SELECT id, date_part('epoch', timestamp_iso) AS t, battery_voltage, fuel_level,
         LAG(fuel_level) OVER w AS fuel_prev,
         LAG(date_part('epoch', timestamp_iso)) OVER w AS t_prev
  FROM lake.vehicle_status
  WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                    - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
          AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                             - INTERVAL '{{ params.lookback_s }}' SECOND) AS INTEGER)
          AND hour <= CASE WHEN CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
                                = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                       - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
                           THEN CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND) AS INTEGER)
                           ELSE 23 END)
      OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                    + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
          AND hour >= CASE WHEN CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                     + INTERVAL '{{ params.lookahead_s }}' SECOND AS DATE)
                                = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                                       - INTERVAL '{{ params.lookback_s }}' SECOND AS DATE)
                           THEN 24 ELSE 0 END
          AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP)
                                             + INTERVAL '{{ params.lookahead_s }}' SECOND) AS INTEGER)))
    AND date_part('epoch', timestamp_iso)
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND date_part('epoch', timestamp_iso)
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND id IS NOT NULL
  WINDOW w AS (PARTITION BY id ORDER BY timestamp_iso, seq)
),
sa AS (
  SELECT id,
         MIN(battery_voltage) AS battery_min_v,
         SUM(CASE WHEN fuel_prev > fuel_level
                       AND t - t_prev <= CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
                  THEN fuel_prev - fuel_level ELSE 0 END) AS fuel_used_pct,
         COUNT(*) AS status_samples
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
SELECT COALESCE(ka.id, sa.id, ea.id) AS vehicle_id,
       CAST('{{ data_interval_start }}' AS TIMESTAMP) AS hour_start,
       ka.distance_km,
       ka.gps_distance_km,
       ka.drive_s,
       ka.idle_s,
       ka.engine_on_s,
       ka.trips,
       ka.max_speed,
       ka.speeding_s,
       COALESCE(ea.harsh_accel, 0) AS harsh_accel,
       COALESCE(ea.harsh_brake, 0) AS harsh_brake,
       sa.battery_min_v,
       sa.fuel_used_pct,
       COALESCE(ka.samples, 0) AS samples,
       COALESCE(sa.status_samples, 0) AS status_samples
FROM ka
FULL JOIN sa ON sa.id = ka.id
FULL JOIN ea ON ea.id = COALESCE(ka.id, sa.id)
