-- Each compound's ADMET numbers as an array, `admet_values`, beside the
-- section's JSON, and the model that made them, `admet_model`. Positions
-- 1..52 of the array are the predictions (`admet.properties`), 53..104
-- their DrugBank percentiles (`admet.percentiles`), both in the order of
-- pharmforge_core::profile::ADMET_FIELDS (admet_value_position); NULL where
-- the section has no number. The aggregator writes them with the section.
--
-- Why: printing a 100-number jsonb as text (jsonb_out) was most of what a
-- CSV export of a 100,000-compound run cost Postgres (2.6 of 3.9 s), and
-- reading one number out of the section, to sort by it or to rescore, meant
-- decompressing the whole section per compound. An array is sent in binary
-- (8 bytes a number) and indexed directly.
--
-- The list is append-only: a later model's new endpoint gets a position at
-- the end; a position never changes meaning. A key not in the list stays in
-- the JSON and is read from there.

-- The layout in SQL: fills the rows written before this migration, and is
-- what the store's tests check the aggregator's arrays against. (Computed
-- in Postgres for every write it would cost ~90 µs a compound; the
-- aggregator computes it for nothing from the record it already holds.)
CREATE FUNCTION pf_admet_values(admet jsonb) RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    fields text[] := ARRAY[
        'molecular_weight', 'logP', 'hydrogen_bond_acceptors', 'hydrogen_bond_donors', 'Lipinski', 'QED',
        'stereo_centers', 'tpsa', 'PAINS_alert', 'BRENK_alert', 'NIH_alert', 'AMES', 'BBB_Martins',
        'Bioavailability_Ma', 'CYP1A2_Veith', 'CYP2C19_Veith', 'CYP2C9_Substrate_CarbonMangels',
        'CYP2C9_Veith', 'CYP2D6_Substrate_CarbonMangels', 'CYP2D6_Veith', 'CYP3A4_Substrate_CarbonMangels',
        'CYP3A4_Veith', 'Carcinogens_Lagunin', 'ClinTox', 'DILI', 'HIA_Hou', 'NR-AR-LBD', 'NR-AR', 'NR-AhR',
        'NR-Aromatase', 'NR-ER-LBD', 'NR-ER', 'NR-PPAR-gamma', 'PAMPA_NCATS', 'Pgp_Broccatelli', 'SR-ARE',
        'SR-ATAD5', 'SR-HSE', 'SR-MMP', 'SR-p53', 'Skin_Reaction', 'hERG', 'Caco2_Wang',
        'Clearance_Hepatocyte_AZ', 'Clearance_Microsome_AZ', 'Half_Life_Obach',
        'HydrationFreeEnergy_FreeSolv', 'LD50_Zhu', 'Lipophilicity_AstraZeneca', 'PPBR_AZ',
        'Solubility_AqSolDB', 'VDss_Lombardo'
    ];
    part jsonb;
    v jsonb;
    out float8[] := '{}';
    suffix text;
    f text;
BEGIN
    IF jsonb_typeof(admet) IS DISTINCT FROM 'object' THEN
        RETURN NULL;
    END IF;
    FOREACH suffix IN ARRAY ARRAY['', '_drugbank_approved_percentile'] LOOP
        part := admet -> CASE WHEN suffix = '' THEN 'properties' ELSE 'percentiles' END;
        IF jsonb_typeof(part) IS DISTINCT FROM 'object' THEN
            part := NULL;
        END IF;
        FOREACH f IN ARRAY fields LOOP
            v := part -> (f || suffix);
            out := out || CASE WHEN jsonb_typeof(v) = 'number' THEN v::float8 END;
        END LOOP;
    END LOOP;
    RETURN out;
END
$$;

ALTER TABLE compound_results ADD COLUMN admet_values float8[], ADD COLUMN admet_model text;
DO $$
BEGIN
    ALTER TABLE compound_results ALTER COLUMN admet_values SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available on this server; admet_values stays pglz-compressed';
END
$$;
UPDATE compound_results SET admet_values = pf_admet_values(admet), admet_model = admet ->> 'model'
WHERE jsonb_typeof(admet) = 'object';

-- An export's ADMET columns are the section's values flattened, as the
-- profile paths name them (`admet.hERG`, `admet.hERG_drugbank_approved_percentile`,
-- `admet.model`), no longer its three top-level keys (`admet.properties`
-- holding a JSON text of 52 values): the kept keys of the runs stored
-- before are flattened from their results.
UPDATE pipeline_runs p SET result_keys = jsonb_set(p.result_keys, '{admet}', COALESCE((
    SELECT jsonb_agg(DISTINCT k ORDER BY k)
    FROM compound_results c,
         LATERAL (
             SELECT e.key FROM jsonb_each(CASE WHEN jsonb_typeof(c.admet) = 'object' THEN c.admet END) e
             WHERE NOT (e.key IN ('properties', 'percentiles') AND jsonb_typeof(e.value) = 'object')
             UNION ALL
             SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(c.admet -> 'properties') = 'object' THEN c.admet -> 'properties' END)
             UNION ALL
             SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(c.admet -> 'percentiles') = 'object' THEN c.admet -> 'percentiles' END)
         ) x(k)
    WHERE c.run_pk = p.id), '[]'))
WHERE p.result_keys ? 'admet';
