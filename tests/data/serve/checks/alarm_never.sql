-- Never fails: no alarm may come of it.
SELECT vehicle_id, day FROM mart.vehicle_daily WHERE max_speed < 0
