-- The keys each section of a run's results has, over all its compounds:
-- {"properties": [...], "admet": [...], ..., "errors": [...],
-- "input_properties": [...]}, kept by the aggregator as it writes results
-- (and by the API for the inputs). They are the columns of a run's CSV and
-- SD exports; finding them by scanning every result's JSON took Postgres
-- 4 to 20 s for a 100,000-compound run, before the first row.
ALTER TABLE pipeline_runs ADD COLUMN result_keys JSONB NOT NULL DEFAULT '{}';
