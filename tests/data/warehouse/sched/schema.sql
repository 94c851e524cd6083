CREATE TABLE src (ts timestamptz NOT NULL, v bigint NOT NULL);
CREATE TABLE ctl (bad_day date);
INSERT INTO ctl VALUES (NULL);
CREATE SCHEMA IF NOT EXISTS mart;
-- no primary keys: a task that ran twice without replacing its interval would show as doubled rows
CREATE TABLE mart.daily_count (day date, n bigint, total numeric);
CREATE TABLE mart.manual_count (day date, n bigint, total numeric);
CREATE TABLE mart.slow_count (day date, n bigint);
CREATE TABLE mart.hour_count (hour_start timestamptz, n bigint, built_at timestamptz);
CREATE TABLE mart.sum_hours (day date, n numeric, hours bigint, newest_hour_built timestamptz, built_at timestamptz);
