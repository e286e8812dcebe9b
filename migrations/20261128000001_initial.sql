-- PharmForge schema. Column names follow the system we replace (pipeline_runs,
-- compound_results), with the counters the aggregator keeps as records move.

CREATE TABLE pipeline_runs (
    id                  BIGSERIAL PRIMARY KEY,
    run_id              VARCHAR(64)  NOT NULL UNIQUE,
    status              VARCHAR(32)  NOT NULL DEFAULT 'pending',
    created_at          TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ  NOT NULL DEFAULT now(),
    completed_at        TIMESTAMPTZ,
    input_smiles        JSONB        NOT NULL,
    pipeline_config     JSONB        NOT NULL,
    adapter_sequence    TEXT[]       NOT NULL,
    results             JSONB,
    lockfile            JSONB        NOT NULL DEFAULT '{}',
    user_id             VARCHAR(128),
    error_message       TEXT,
    total_compounds     INTEGER      NOT NULL,
    completed_compounds INTEGER      NOT NULL DEFAULT 0,
    failed_compounds    INTEGER      NOT NULL DEFAULT 0,
    -- {adapter: {done, failed, skipped}}: per-stage counts, kept by the aggregator
    stage_counts        JSONB        NOT NULL DEFAULT '{}',
    -- (compound, stage) pairs finished; progress = steps_done / (total * stages)
    steps_done          BIGINT       NOT NULL DEFAULT 0,
    -- fan-out cursor: compound records published so far (the api's fan-out worker)
    fanout_published    INTEGER      NOT NULL DEFAULT 0,
    fanout_completed_at TIMESTAMPTZ,
    CONSTRAINT pipeline_runs_status_check
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled'))
);

CREATE INDEX pipeline_runs_created ON pipeline_runs (created_at DESC, id DESC);
CREATE INDEX pipeline_runs_user_created ON pipeline_runs (user_id, created_at DESC, id DESC);
CREATE INDEX pipeline_runs_status_created ON pipeline_runs (status, created_at DESC, id DESC);
CREATE INDEX pipeline_runs_fanout_pending ON pipeline_runs (id) WHERE fanout_completed_at IS NULL;

CREATE TABLE compound_results (
    run_pk       BIGINT       NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    idx          INTEGER      NOT NULL,
    compound_id  VARCHAR(128) NOT NULL,
    smiles       TEXT         NOT NULL,
    name         VARCHAR(256),
    -- W3C trace id of the compound's messages: follow it through every service's logs
    trace_id     VARCHAR(32),
    status       VARCHAR(32)  NOT NULL,
    -- stages of the route this compound has passed
    step         SMALLINT     NOT NULL,
    properties   JSONB,
    admet        JSONB,
    pubchem      JSONB,
    bioactivity  JSONB,
    docking      JSONB,
    synthesis    JSONB,
    errors       JSONB        NOT NULL DEFAULT '{}',
    scores       JSONB,
    final_score  DOUBLE PRECISION,
    rank         INTEGER,
    updated_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (run_pk, idx)
);

CREATE INDEX compound_results_rank ON compound_results (run_pk, rank);
