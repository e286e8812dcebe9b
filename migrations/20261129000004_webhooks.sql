-- Webhooks: a transactional outbox. A run's event is written by a trigger in
-- the same transaction as the status change it reports (whichever process
-- makes it: the aggregator, a cancel, the scheduler failing a run), so there
-- is exactly one event per transition and none is lost if a process dies
-- right after. The API's dispatchers deliver the events and keep each attempt.

CREATE TABLE webhook_events (
    id              BIGSERIAL    PRIMARY KEY,
    -- Standard Webhooks' `webhook-id`: the same on every attempt, so that
    -- receivers can drop a delivery they have already processed.
    webhook_id      TEXT         NOT NULL UNIQUE DEFAULT ('msg_' || replace(gen_random_uuid()::text, '-', '')),
    run_pk          BIGINT       NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    event           VARCHAR(16)  NOT NULL,
    url             TEXT         NOT NULL,
    -- The run as it was when the event happened (webhook_snapshot); the body
    -- is rendered from it, the same on every attempt.
    snapshot        JSONB        NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    -- When the next attempt is due. A dispatcher that claims the event moves
    -- it past the attempt's timeout (a lease): if that dispatcher dies
    -- mid-attempt, another one tries again once the lease runs out.
    next_attempt_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    attempts        INTEGER      NOT NULL DEFAULT 0,
    delivered_at    TIMESTAMPTZ,
    gave_up_at      TIMESTAMPTZ,
    CONSTRAINT webhook_events_event_check CHECK (event IN ('completed', 'failed', 'cancelled', 'progress'))
);

-- The dispatchers' poll: due events still to deliver.
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;
-- A run's latest progress event (how often progress is sent) and the cascade.
CREATE INDEX webhook_events_run ON webhook_events (run_pk, event, created_at);

CREATE TABLE webhook_attempts (
    id          BIGSERIAL   PRIMARY KEY,
    event_pk    BIGINT      NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    -- The run's, so that `GET /runs/{id}` reads its latest attempts from one index.
    run_pk      BIGINT      NOT NULL,
    attempt     INTEGER     NOT NULL,
    -- The receiver's answer; NULL when there was none (error says why).
    status_code INTEGER,
    error       TEXT,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX webhook_attempts_run ON webhook_attempts (run_pk, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_pk);

-- What an event says about its run. Built from columns, not from the row as
-- a whole: a row value would fetch every column, the run's input included.
CREATE FUNCTION webhook_snapshot(
    run_id text, status text, user_id text, total integer, completed integer, failed integer,
    steps_done bigint, stage_counts jsonb, adapter_sequence text[]
) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'run_id', run_id, 'status', status, 'user_id', user_id,
        'total', total, 'completed', completed, 'failed', failed, 'steps_done', steps_done,
        'stage_counts', stage_counts, 'adapter_sequence', to_jsonb(adapter_sequence))
$$;

CREATE FUNCTION webhook_run_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hook jsonb := NEW.pipeline_config -> 'webhook';
BEGIN
    -- The API stores `events` with its default filled in; a config written
    -- some other way gets the same default.
    IF jsonb_typeof(hook -> 'url') = 'string'
       AND COALESCE(hook -> 'events', '["completed", "failed", "cancelled"]') ? NEW.status THEN
        INSERT INTO webhook_events (run_pk, event, url, snapshot)
        VALUES (NEW.id, NEW.status, hook ->> 'url', webhook_snapshot(
            NEW.run_id, NEW.status, NEW.user_id, NEW.total_compounds, NEW.completed_compounds,
            NEW.failed_compounds, NEW.steps_done, NEW.stage_counts, NEW.adapter_sequence));
    END IF;
    RETURN NULL;
END
$$;

-- The aggregator updates a running run's counters many times a second: the
-- WHEN clause, checked before any function is called, passes only the one
-- update that ends a run, and only for runs that asked for a webhook.
-- (Progress events are made by the dispatchers, at most one per run per
-- WEBHOOK_PROGRESS_INTERVAL_MS, so the counters' updates cost nothing more.)
CREATE TRIGGER pipeline_runs_webhook
    AFTER UPDATE OF status ON pipeline_runs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          AND NEW.status IN ('completed', 'failed', 'cancelled')
          AND NEW.pipeline_config ? 'webhook')
    EXECUTE FUNCTION webhook_run_ended();
