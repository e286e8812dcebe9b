-- Sections over ~2 kB (ADMET, bioactivity) are compressed when stored. lz4
-- compresses several times faster than the default pglz at a similar ratio:
-- the aggregator's writes were spending more of Postgres' time in
-- pglz_compress than in the insert itself. Only servers built with lz4
-- support it (Debian's, the official images); elsewhere pglz stays, as before.
DO $$
BEGIN
    ALTER TABLE compound_results
        ALTER COLUMN properties SET COMPRESSION lz4,
        ALTER COLUMN admet SET COMPRESSION lz4,
        ALTER COLUMN pubchem SET COMPRESSION lz4,
        ALTER COLUMN bioactivity SET COMPRESSION lz4,
        ALTER COLUMN docking SET COMPRESSION lz4,
        ALTER COLUMN synthesis SET COMPRESSION lz4,
        ALTER COLUMN scores SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available on this server; sections stay pglz-compressed';
END
$$;
