-- A run's input compounds, one row each, instead of one JSONB array per run.
-- Uploads of SD and CSV files arrive as a stream and are written a batch at
-- a time (a 1,000,000-row file never has to be whole in the API), each
-- compound keeps what the user gave with it (their own ID, an SD record's
-- data items, or why its record could not be read), and admission reads a
-- slice by primary key instead of detoasting the whole array every round.
CREATE TABLE run_inputs (
    run_pk      BIGINT  NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    smiles      TEXT    NOT NULL,
    -- the user's own compound ID (CSV id column, SD title, `compounds[].id`)
    given_id    TEXT,
    -- an SD record's data items, {name: value}, returned as input_properties
    properties  JSONB,
    -- why the input record could not be read (the compound fails at once)
    input_error TEXT,
    PRIMARY KEY (run_pk, idx)
);

INSERT INTO run_inputs (run_pk, idx, smiles)
SELECT p.id, (e.ordinality - 1)::int, e.value
FROM pipeline_runs p, jsonb_array_elements_text(p.input_smiles) WITH ORDINALITY AS e(value, ordinality)
WHERE jsonb_typeof(p.input_smiles) = 'array';

-- The seed's column stays (its schema is what users know) but is no longer
-- filled: the API serves `input_smiles` from run_inputs.
ALTER TABLE pipeline_runs ALTER COLUMN input_smiles DROP NOT NULL;
UPDATE pipeline_runs SET input_smiles = NULL WHERE input_smiles IS NOT NULL;
