-- Admission: compounds enter the pipeline through the API's scheduler, a
-- window at a time, instead of a whole run at once. The fan-out cursor
-- (fanout_published) is the admission cursor: compounds admitted so far, in
-- input order. A run's priority weighs its share of the window.
ALTER TABLE pipeline_runs
    ADD COLUMN priority VARCHAR(8) NOT NULL DEFAULT 'normal',
    ADD CONSTRAINT pipeline_runs_priority_check CHECK (priority IN ('high', 'normal', 'low'));

-- The scheduler reads the active runs several times a second.
CREATE INDEX pipeline_runs_active ON pipeline_runs (id) WHERE status IN ('pending', 'running');
