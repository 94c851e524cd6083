-- duplicate: messages stored twice, and sample times repeated under another seq (docs/checks.md,
-- "Raw-data checks"). ONE SELECT, no trailing semicolon, comments only at the top. Over the table
-- lake.{{ params.table }}; its time column is {{ params.time_col }} (timestamp_iso, or messaged_at
-- for events) and sample_key the columns that tell the samples of one time apart besides id (zone
-- for cargo; "id" when none). Failing rows, one per message whose time is in
-- [data_interval_start, data_interval_end): id, seq, ts, detail.
--  - the same (id, seq, time, sample_key) in more than one row: a message delivered twice (both
--    copies are rows of the lake and of PostgreSQL; neither drops the other);
--  - the same (id, time, sample_key) under several seqs: reported under each seq but the first.
WITH
r AS (
  SELECT id, seq, {{ params.time_col }} AS ts, {{ params.sample_key }} AS sk
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
twice AS (
  SELECT id, seq, MIN(ts) AS ts, 'message stored ' || CAST(MAX(n) AS VARCHAR) || ' times' AS detail
  FROM (SELECT id, seq, ts, sk, COUNT(*) AS n FROM r GROUP BY id, seq, ts, sk HAVING COUNT(*) > 1) d
  GROUP BY id, seq
),
retimed AS (
  SELECT r.id, r.seq, MIN(r.ts) AS ts, 'sample time repeated from seq ' || CAST(MIN(f.first_seq) AS VARCHAR) AS detail
  FROM r
  JOIN (SELECT id, ts, sk, MIN(seq) AS first_seq FROM r GROUP BY id, ts, sk HAVING COUNT(DISTINCT seq) > 1) f
    ON f.id = r.id AND f.ts = r.ts AND f.sk = r.sk AND r.seq > f.first_seq
  GROUP BY r.id, r.seq
)
SELECT id, seq, ts, detail FROM twice
UNION ALL
SELECT id, seq, ts, detail FROM retimed
WHERE NOT EXISTS (SELECT 1 FROM twice WHERE twice.id = retimed.id AND twice.seq = retimed.seq)
