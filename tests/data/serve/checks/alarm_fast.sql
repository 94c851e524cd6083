-- Failing rows: the mart rows whose max_speed is above params.max_kmh (vehicle 3's 130.25).
SELECT vehicle_id, day, max_speed FROM mart.vehicle_daily WHERE max_speed > {{ params.max_kmh }}
