-- The W3C trace context of the request that created a run: the admission
-- scheduler (on whichever API replica) makes each compound's spans part of
-- that trace.
ALTER TABLE pipeline_runs ADD COLUMN traceparent text;
