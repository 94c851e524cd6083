-- The marts' tables (schema mart). Runs unchanged in PostgreSQL 15 and DuckDB: only
-- CREATE SCHEMA/TABLE IF NOT EXISTS, standard types (BIGINT, DOUBLE PRECISION, DATE) and
-- primary keys; hour_start is a UTC TIMESTAMP. The column order is the order of each mart's SELECT
-- (config/warehouse/sql/<mart>.sql): the scheduler runs INSERT INTO mart.<mart> <SELECT>
-- without a column list. Definitions and units: docs/warehouse.md, "Marts".
CREATE SCHEMA IF NOT EXISTS mart;

CREATE TABLE IF NOT EXISTS mart.vehicle_hourly (
  vehicle_id      BIGINT NOT NULL,
  hour_start      TIMESTAMP NOT NULL,
  distance_km     DOUBLE PRECISION,
  gps_distance_km DOUBLE PRECISION,
  drive_s         DOUBLE PRECISION,
  idle_s          DOUBLE PRECISION,
  engine_on_s     DOUBLE PRECISION,
  trips           BIGINT,
  max_speed       DOUBLE PRECISION,
  speeding_s      DOUBLE PRECISION,
  harsh_accel     BIGINT,
  harsh_brake     BIGINT,
  battery_min_v   DOUBLE PRECISION,
  fuel_used_pct   DOUBLE PRECISION,
  samples         BIGINT,
  status_samples  BIGINT,
  PRIMARY KEY (vehicle_id, hour_start)
);

CREATE TABLE IF NOT EXISTS mart.reefer_hourly (
  vehicle_id      BIGINT NOT NULL,
  zone            BIGINT NOT NULL,
  hour_start      TIMESTAMP NOT NULL,
  monitored_s     DOUBLE PRECISION,
  excursion_s     DOUBLE PRECISION,
  longest_s       DOUBLE PRECISION,
  lead_s          DOUBLE PRECISION,
  trail_s         DOUBLE PRECISION,
  all_excursion   BIGINT,
  door_open_s     DOUBLE PRECISION,
  door_openings   BIGINT,
  min_temperature DOUBLE PRECISION,
  max_temperature DOUBLE PRECISION,
  temperature_sum DOUBLE PRECISION,
  temperature_n   BIGINT,
  samples         BIGINT,
  PRIMARY KEY (vehicle_id, zone, hour_start)
);

CREATE TABLE IF NOT EXISTS mart.vehicle_daily (
  vehicle_id      BIGINT NOT NULL,
  day             DATE NOT NULL,
  distance_km     DOUBLE PRECISION,
  gps_distance_km DOUBLE PRECISION,
  drive_s         DOUBLE PRECISION,
  idle_s          DOUBLE PRECISION,
  engine_on_s     DOUBLE PRECISION,
  utilization     DOUBLE PRECISION,
  trips           BIGINT,
  max_speed       DOUBLE PRECISION,
  speeding_s      DOUBLE PRECISION,
  harsh_accel     BIGINT,
  harsh_brake     BIGINT,
  harsh_per_100km DOUBLE PRECISION,
  battery_min_v   DOUBLE PRECISION,
  fuel_used_pct   DOUBLE PRECISION,
  samples         BIGINT,
  PRIMARY KEY (vehicle_id, day)
);

CREATE TABLE IF NOT EXISTS mart.reefer_daily (
  vehicle_id            BIGINT NOT NULL,
  zone                  BIGINT NOT NULL,
  day                   DATE NOT NULL,
  monitored_min         DOUBLE PRECISION,
  excursion_min         DOUBLE PRECISION,
  longest_excursion_min DOUBLE PRECISION,
  door_open_min         DOUBLE PRECISION,
  door_openings         BIGINT,
  compliance_pct        DOUBLE PRECISION,
  min_temperature       DOUBLE PRECISION,
  avg_temperature       DOUBLE PRECISION,
  max_temperature       DOUBLE PRECISION,
  samples               BIGINT,
  PRIMARY KEY (vehicle_id, zone, day)
);

CREATE TABLE IF NOT EXISTS mart.fleet_daily (
  day                        DATE NOT NULL,
  active_vehicles            BIGINT,
  km                         DOUBLE PRECISION,
  reefer_zones               BIGINT,
  samples_kinematic          BIGINT,
  samples_status             BIGINT,
  samples_cargo              BIGINT,
  samples_blackbox           BIGINT,
  events                     BIGINT,
  expected_kinematic         BIGINT,
  expected_status            BIGINT,
  expected_cargo             BIGINT,
  expected_blackbox          BIGINT,
  completeness_pct           DOUBLE PRECISION,
  deadletters                BIGINT,
  deadletters_invalid_json   BIGINT,
  deadletters_missing_field  BIGINT,
  deadletters_spoofed_device BIGINT,
  deadletters_late           BIGINT,
  deadletters_other          BIGINT,
  PRIMARY KEY (day)
);
