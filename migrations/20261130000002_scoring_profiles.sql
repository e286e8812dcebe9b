-- Scoring profiles (issue 16).
--
-- A run's scoring history: [{profile, applied_at, name?}], the last one
-- current. The aggregator scores each compound with the current profile as
-- it finishes; a rescore appends a profile and rewrites the scores and
-- ranks. Runs from before profiles have an empty history (their compounds
-- keep the scores they were given; new ones get the default profile).
ALTER TABLE pipeline_runs ADD COLUMN scoring_history JSONB NOT NULL DEFAULT '[]';

-- Ranks are now competition ranks (ties share one, the next skips), so they
-- no longer say where a compound is on a page. rank_order does: 1.. in rank
-- order with ties in input order, the key results pages and exports walk.
-- pareto_front is the compound's front under a Pareto profile.
ALTER TABLE compound_results ADD COLUMN rank_order INTEGER, ADD COLUMN pareto_front INTEGER;
UPDATE compound_results SET rank_order = rank WHERE rank IS NOT NULL;
DROP INDEX compound_results_rank;
CREATE INDEX compound_results_rank_order ON compound_results (run_pk, rank_order);
