-- mart.fleet_daily: one row per day for one data interval
-- [data_interval_start, data_interval_end) = one local day of the fleet (day = ds).
-- ONE SELECT, no trailing semicolon, comments only at the top: the scheduler runs
--   DELETE FROM mart.fleet_daily WHERE day = '{{ ds }}'; INSERT INTO mart.fleet_daily <this>
-- Columns in the order of config/warehouse/sql/schema.sql. Definitions: docs/warehouse.md, "Marts".
-- Depends on mart.vehicle_daily and mart.reefer_daily of the same day and on the day's
-- mart.vehicle_hourly (run them first): active vehicles, km and kinematic samples are
-- vehicle_daily's, reporting zones and cargo samples reefer_daily's, status samples
-- vehicle_hourly's, so the marts always agree; blackbox samples and events are counted in the
-- lake (small tables).
-- Expected samples: every active vehicle reports every periodic protocol for the whole
-- interval at the protocol's rate (config/protocols.json), cargo once per reporting zone.
-- completeness_pct is the least complete periodic protocol. Dead letters are lake.deadletter's
-- rows received in the interval (received_at: when the pipeline dead-lettered them; a malformed
-- message may have no sample time), by error_class: the bridge's invalid_json, missing_field
-- and spoofed_device, the aggregate's late, and every other class together.
WITH
v AS (
  SELECT COUNT(*) AS active_vehicles, SUM(distance_km) AS km, SUM(samples) AS n
  FROM mart.vehicle_daily
  WHERE day = CAST('{{ ds }}' AS DATE)
),
len AS (
  SELECT date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
         - date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS s
),
kin AS (
  SELECT COALESCE(n, 0) AS n FROM v
),
st AS (
  SELECT COALESCE(SUM(status_samples), 0) AS n FROM mart.vehicle_hourly
  WHERE hour_start >= CAST('{{ data_interval_start }}' AS TIMESTAMP)
    AND hour_start < CAST('{{ data_interval_end }}' AS TIMESTAMP)
),
cg AS (
  SELECT COUNT(*) AS zones, SUM(samples) AS n FROM mart.reefer_daily
  WHERE day = CAST('{{ ds }}' AS DATE)
),
bb AS (
  SELECT COUNT(*) AS n FROM lake.blackbox_status
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE)
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE)
    AND date_part('epoch', timestamp_iso) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
    AND date_part('epoch', timestamp_iso) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
),
ev AS (
  SELECT COUNT(*) AS n FROM lake.vehicle_event
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) - 1
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE) + 1
    AND date_part('epoch', occurred_at) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
    AND date_part('epoch', occurred_at) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
),
dl AS (
  SELECT COUNT(*) AS n,
         SUM(CASE WHEN error_class = 'invalid_json' THEN 1 ELSE 0 END) AS invalid_json,
         SUM(CASE WHEN error_class = 'missing_field' THEN 1 ELSE 0 END) AS missing_field,
         SUM(CASE WHEN error_class = 'spoofed_device' THEN 1 ELSE 0 END) AS spoofed_device,
         SUM(CASE WHEN error_class = 'late' THEN 1 ELSE 0 END) AS late
  FROM lake.deadletter
  WHERE dt >= CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE)
    AND dt <= CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE)
    AND date_part('epoch', received_at) >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
    AND date_part('epoch', received_at) < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
),
ex AS (
  SELECT v.active_vehicles, v.km, cg.zones,
         kin.n AS kin_n, st.n AS st_n, COALESCE(cg.n, 0) AS cg_n, bb.n AS bb_n, ev.n AS ev_n,
         CAST(FLOOR(v.active_vehicles * CAST({{ params.kinematic_hz }} AS DOUBLE PRECISION)
                    * len.s + 0.5) AS BIGINT) AS kin_x,
         CAST(FLOOR(v.active_vehicles * CAST({{ params.status_hz }} AS DOUBLE PRECISION)
                    * len.s + 0.5) AS BIGINT) AS st_x,
         CAST(FLOOR(cg.zones * CAST({{ params.cargo_hz }} AS DOUBLE PRECISION)
                    * len.s + 0.5) AS BIGINT) AS cg_x,
         CAST(FLOOR(v.active_vehicles * CAST({{ params.blackbox_hz }} AS DOUBLE PRECISION)
                    * len.s + 0.5) AS BIGINT) AS bb_x
  FROM v, len, kin, st, cg, bb, ev
)
SELECT CAST('{{ ds }}' AS DATE) AS day,
       active_vehicles,
       km,
       zones AS reefer_zones,
       kin_n AS samples_kinematic,
       st_n AS samples_status,
       cg_n AS samples_cargo,
       bb_n AS samples_blackbox,
       ev_n AS events,
       kin_x AS expected_kinematic,
       st_x AS expected_status,
       cg_x AS expected_cargo,
       bb_x AS expected_blackbox,
       LEAST(CASE WHEN kin_x > 0 THEN 100 * CAST(kin_n AS DOUBLE PRECISION) / kin_x END,
             CASE WHEN st_x > 0 THEN 100 * CAST(st_n AS DOUBLE PRECISION) / st_x END,
             CASE WHEN cg_x > 0 THEN 100 * CAST(cg_n AS DOUBLE PRECISION) / cg_x END,
             CASE WHEN bb_x > 0 THEN 100 * CAST(bb_n AS DOUBLE PRECISION) / bb_x END)
         AS completeness_pct,
       dl.n AS deadletters,
       COALESCE(dl.invalid_json, 0) AS deadletters_invalid_json,
       COALESCE(dl.missing_field, 0) AS deadletters_missing_field,
       COALESCE(dl.spoofed_device, 0) AS deadletters_spoofed_device,
       COALESCE(dl.late, 0) AS deadletters_late,
       dl.n - COALESCE(dl.invalid_json + dl.missing_field + dl.spoofed_device + dl.late, 0)
         AS deadletters_other
FROM ex, dl
