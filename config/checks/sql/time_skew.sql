-- time_skew: messages whose clock was wrong (docs/checks.md, "Raw-data checks"). ONE SELECT, no
-- trailing semicolon, comments only at the top. Over lake.{{ params.table }} (time column
-- {{ params.time_col }}). Failing rows: id, seq, ts (the time the row carries), detail.
--  - within a row: a sample time more than future_s after its messaged_at, or more than past_s
--    before it; rows whose time is in [data_interval_start, data_interval_end);
--  - across the lake: a row whose messaged_at is more than skew_s outside the interval while its
--    seq lies within the seqs its device sent in the interval (the vehicle's rows of the interval
--    in this table): sent during the interval with a clock far off. The lake partitions rows by
--    their own (wrong) time, so these rows sit in other partitions: this part reads every
--    partition of the table outside the interval +- skew_s (no BRIN pruning; docs/checks.md says
--    what would make it cheap). A device whose seq restarts can make old rows match.
--    "Within" is from the device's first seq in the interval up to its first seq in the
--    lookback_s after it (both excluded), or up to its last seq in the interval when it has none
--    there: consecutive intervals then split a device's seqs without a gap or an overlap, so a
--    skewed message sent between an interval's last message and the next one's first is found
--    once, by the earlier interval (a device silent for lookback_s across the boundary falls
--    back to the gap). Those rows are in the hour after the interval, which is loaded when the
--    scheduler's check runs (checks_hourly's reads_after reaches into it; a load is a whole hour).
WITH
mine AS (
  SELECT id, seq, {{ params.time_col }} AS ts, messaged_at
  FROM lake.{{ params.table }}
  WHERE ((dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE)
       AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS INTEGER) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND) AS INTEGER))
       OR (dt = CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND hour >= CAST(date_part('hour', CAST('{{ data_interval_start }}' AS TIMESTAMP)) AS INTEGER))
       OR (dt > CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) AND dt < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE))
       OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP) AS DATE) < CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND AS DATE) AND hour <= CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) - INTERVAL '0.001' SECOND) AS INTEGER)))
    AND date_part('epoch', {{ params.time_col }})
        >= date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
    AND date_part('epoch', {{ params.time_col }})
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND id IS NOT NULL AND seq IS NOT NULL
),
nxt AS (
  SELECT id, MIN(seq) AS nx
  FROM lake.{{ params.table }}
  WHERE ((dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) AS DATE)
          AND hour = CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP)) AS INTEGER))
      OR (dt = CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND AS DATE)
          AND hour = CAST(date_part('hour', CAST('{{ data_interval_end }}' AS TIMESTAMP) + INTERVAL '{{ params.lookback_s }}' SECOND - INTERVAL '0.001' SECOND) AS INTEGER)))
    AND date_part('epoch', {{ params.time_col }})
        >= date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
    AND date_part('epoch', {{ params.time_col }})
        < date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
          + CAST({{ params.lookback_s }} AS DOUBLE PRECISION)
    AND id IS NOT NULL AND seq IS NOT NULL
  GROUP BY id
),
own AS (
  SELECT id, MIN(seq) AS lo, MAX(seq) AS hi FROM mine GROUP BY id
),
span AS (
  SELECT o.id, o.lo, CASE WHEN n.nx > o.hi THEN n.nx ELSE o.hi END AS hi
  FROM own o LEFT JOIN nxt n ON n.id = o.id
),
far AS (
  SELECT f.id, f.seq, f.{{ params.time_col }} AS ts, f.messaged_at
  FROM lake.{{ params.table }} f
  JOIN span ON span.id = f.id AND f.seq > span.lo AND f.seq < span.hi
  WHERE (f.dt < CAST(CAST('{{ data_interval_start }}' AS TIMESTAMP)
                     - INTERVAL '{{ params.skew_s }}' SECOND AS DATE)
         OR f.dt > CAST(CAST('{{ data_interval_end }}' AS TIMESTAMP)
                        + INTERVAL '{{ params.skew_s }}' SECOND AS DATE))
    AND (date_part('epoch', f.messaged_at)
         < date_part('epoch', CAST('{{ data_interval_start }}' AS TIMESTAMP))
           - CAST({{ params.skew_s }} AS DOUBLE PRECISION)
         OR date_part('epoch', f.messaged_at)
            >= date_part('epoch', CAST('{{ data_interval_end }}' AS TIMESTAMP))
               + CAST({{ params.skew_s }} AS DOUBLE PRECISION))
)
SELECT id, seq, MIN(ts) AS ts, 'sent in the interval (seq between its neighbours), messaged_at '
       || CAST(MIN(messaged_at) AS VARCHAR) AS detail
FROM far
GROUP BY id, seq
UNION ALL
SELECT id, seq, MIN(ts) AS ts, 'sample time vs messaged_at ' || CAST(MIN(messaged_at) AS VARCHAR) AS detail
FROM mine
WHERE date_part('epoch', ts) > date_part('epoch', messaged_at) + CAST({{ params.future_s }} AS DOUBLE PRECISION)
   OR date_part('epoch', ts) < date_part('epoch', messaged_at) - CAST({{ params.past_s }} AS DOUBLE PRECISION)
GROUP BY id, seq
