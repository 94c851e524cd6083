-- fails for the day named in ctl.bad_day (division by zero), succeeds otherwise
SELECT 1 / (CASE WHEN DATE '{{ ds }}' = (SELECT bad_day FROM ctl) THEN 0 ELSE 1 END)
