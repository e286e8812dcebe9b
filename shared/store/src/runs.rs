//! Runs and compound results as the API reads and writes them.

use crate::section;
use crate::stages::RunStageCounts;
use chrono::{DateTime, Utc};
use pharmforge_core::{RunId, RunStatus, Section};
use serde_json::Value;
use sqlx::{PgPool, Row};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub run_id: RunId,
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub pipeline_config: Value,
    pub adapter_sequence: Vec<String>,
    pub results: Option<Value>,
    pub lockfile: Value,
    pub user_id: Option<String>,
    pub error_message: Option<String>,
    pub total_compounds: i32,
    pub completed_compounds: i32,
    pub failed_compounds: i32,
    #[sqlx(json)]
    pub stage_counts: RunStageCounts,
    pub steps_done: i64,
    /// `high`, `normal` or `low`: the run's weight in admission.
    pub priority: String,
    /// Compounds admitted to the pipeline so far.
    pub admitted: i32,
    /// `[{profile, applied_at, name?}]`: the profiles the run was scored
    /// with, the last one current (empty for runs from before profiles).
    pub scoring_history: Value,
    /// How many profiles the history holds: what caches of its scores and
    /// ranks are keyed by.
    pub scoring_version: i32,
}

impl RunRow {
    /// The profile the run's compounds are scored with now.
    pub fn scoring(&self) -> pharmforge_core::profile::Profile {
        current_profile(&self.scoring_history)
    }
}

/// The current profile of a scoring history (the default for an empty or
/// unreadable one).
pub fn current_profile(history: &Value) -> pharmforge_core::profile::Profile {
    use pharmforge_core::profile;
    match history.as_array().and_then(|h| h.last()).and_then(|e| e.get("profile")) {
        Some(p) => profile::Profile::parse(p, &profile::known_path).unwrap_or_else(|e| {
            tracing::error!(error = %e, "a stored scoring profile does not read back; the default is used");
            profile::default_profile()
        }),
        None => profile::default_profile(),
    }
}

impl RunRow {
    /// Fraction of (compound, stage) steps finished, 0..1.
    pub fn progress(&self) -> f64 {
        progress(self.status, self.total_compounds, self.adapter_sequence.len(), self.steps_done)
    }
}

/// Fraction of a run's (compound, stage) steps finished, 0..1; 1 once it
/// has completed or failed.
pub fn progress(status: RunStatus, total_compounds: i32, stages: usize, steps_done: i64) -> f64 {
    let total = total_compounds as i64 * stages.max(1) as i64;
    if matches!(status, RunStatus::Completed | RunStatus::Failed) {
        return 1.0;
    }
    if total == 0 {
        0.0
    } else {
        (steps_done as f64 / total as f64).clamp(0.0, 1.0)
    }
}

pub(crate) const RUN_COLUMNS: &str = "id, run_id, status, created_at, updated_at, completed_at, pipeline_config, \
    adapter_sequence, results, lockfile, user_id, error_message, total_compounds, completed_compounds, \
    failed_compounds, stage_counts, steps_done, priority, fanout_published AS admitted, scoring_history, jsonb_array_length(scoring_history) AS scoring_version";

/// A stored JSON document passed through as its text: the API serves the
/// sections of a compound as Postgres returns them, without building a tree
/// of them (a page of 100 compounds with ADMET sections is ~0.5 MB of JSON).
pub type RawJson = sqlx::types::Json<Box<serde_json::value::RawValue>>;

#[derive(Debug, sqlx::FromRow)]
pub struct CompoundRow {
    pub idx: i32,
    pub compound_id: String,
    pub smiles: String,
    pub trace_id: Option<String>,
    pub status: String,
    pub properties: Option<RawJson>,
    pub admet: Option<RawJson>,
    pub pubchem: Option<RawJson>,
    pub bioactivity: Option<RawJson>,
    pub docking: Option<RawJson>,
    pub synthesis: Option<RawJson>,
    pub scaffolds: Option<RawJson>,
    pub errors: RawJson,
    pub scores: Option<RawJson>,
    pub final_score: Option<f64>,
    pub rank: Option<i32>,
    /// 1.. in rank order, ties in input order (see the migration).
    pub rank_order: Option<i32>,
    pub pareto_front: Option<i32>,
    /// The user's own ID for the compound (from `run_inputs`).
    pub given_id: Option<String>,
    /// An SD record's data items, as given.
    pub input_properties: Option<RawJson>,
    /// The ADMET section's numbers, at `pharmforge_core::profile::admet_value_position`
    /// (see the migration `20261201000001_admet_values`), and its model.
    pub admet_values: Option<Vec<Option<f64>>>,
    pub admet_model: Option<String>,
}

impl CompoundRow {
    /// A section as stored (`None` until its stage has run, or off the route).
    pub fn section(&self, section: Section) -> Option<&RawJson> {
        match section {
            Section::Properties => self.properties.as_ref(),
            Section::Admet => self.admet.as_ref(),
            Section::Pubchem => self.pubchem.as_ref(),
            Section::Bioactivity => self.bioactivity.as_ref(),
            Section::Docking => self.docking.as_ref(),
            Section::Synthesis => self.synthesis.as_ref(),
            Section::Scaffolds => self.scaffolds.as_ref(),
        }
    }
}

/// A compound's result joined with what the user gave with it; `c` is
/// `compound_results`, `i` its row of `run_inputs`. Every section's column
/// is there, in `Section::ALL`'s order (`c.properties, c.admet, ...`), each
/// followed by `, `: a section added to the registry is read with the rest.
pub(crate) static COMPOUND_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let sections: String = Section::ALL.iter().map(|s| format!("c.{s}, ")).collect();
    format!(
        "c.idx, c.compound_id, c.smiles, c.trace_id, c.status, {sections}c.errors, c.scores, c.final_score, c.rank, c.rank_order, c.pareto_front, \
         i.given_id, i.properties AS input_properties, c.admet_values, c.admet_model"
    )
});
pub(crate) const COMPOUND_FROM: &str = "compound_results c LEFT JOIN run_inputs i ON i.run_pk = c.run_pk AND i.idx = c.idx";
/// [`COMPOUND_FROM`] for a page of results: each one's input is looked up
/// by its key (`OFFSET 0` keeps the planner from turning the lookup into a
/// join). As a join, with statistics older than the run (a run's inputs
/// just written: "66 rows"), Postgres read the run's whole input for each
/// page and compared every pair: 0.4-0.7 s a page of 500 for a run of
/// 20,000 compounds, an export at 4,000 rows/s.
pub(crate) const COMPOUND_FROM_PAGE: &str = "compound_results c LEFT JOIN LATERAL \
    (SELECT i.given_id, i.properties FROM run_inputs i WHERE i.run_pk = c.run_pk AND i.idx = c.idx OFFSET 0) i ON true";

pub async fn get_run(pool: &PgPool, run_id: &RunId) -> Result<Option<RunRow>, sqlx::Error> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE run_id = $1");
    sqlx::query_as::<_, RunRow>(&sql).bind(run_id.as_str()).fetch_optional(pool).await
}

#[derive(Debug, Default)]
pub struct RunFilter<'a> {
    pub status: Option<RunStatus>,
    pub user_id: Option<&'a str>,
}

/// One page of runs, newest first, and the total matching the filter.
pub async fn list_runs(pool: &PgPool, filter: &RunFilter<'_>, page: i64, page_size: i64) -> Result<(Vec<RunRow>, i64), sqlx::Error> {
    let where_clause = "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR user_id = $2)";
    let sql = format!("SELECT {RUN_COLUMNS} FROM pipeline_runs {where_clause} ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4");
    let runs = sqlx::query_as::<_, RunRow>(&sql)
        .bind(filter.status.map(RunStatus::as_str))
        .bind(filter.user_id)
        .bind(page_size)
        .bind((page - 1).saturating_mul(page_size))
        .fetch_all(pool)
        .await?;
    let total: i64 = sqlx::query(&format!("SELECT count(*) FROM pipeline_runs {where_clause}"))
        .bind(filter.status.map(RunStatus::as_str))
        .bind(filter.user_id)
        .fetch_one(pool)
        .await?
        .get(0);
    Ok((runs, total))
}

/// What cancelling a run found.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled,
    AlreadyCancelled,
    /// The run had already finished (completed or failed): it cannot be cancelled.
    Finished(RunStatus),
    NotFound,
}

/// Marks a pending or running run `cancelled`. Compounds already recorded stay;
/// the adapters skip the rest.
pub async fn cancel_run(pool: &PgPool, run_id: &RunId) -> Result<CancelOutcome, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE pipeline_runs SET status = 'cancelled', updated_at = now(), completed_at = now(), \
         error_message = 'cancelled by request' WHERE run_id = $1 AND status IN ('pending', 'running')",
    )
    .bind(run_id.as_str())
    .execute(pool)
    .await?;
    if updated.rows_affected() > 0 {
        return Ok(CancelOutcome::Cancelled);
    }
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM pipeline_runs WHERE run_id = $1").bind(run_id.as_str()).fetch_optional(pool).await?;
    let status = status.map(RunStatus::try_from).transpose().map_err(|e| sqlx::Error::Decode(e.into()))?;
    Ok(match status {
        None => CancelOutcome::NotFound,
        Some(RunStatus::Cancelled) => CancelOutcome::AlreadyCancelled,
        Some(other) => CancelOutcome::Finished(other),
    })
}

/// Deletes a run and (by cascade) its compound results; false if unknown.
pub async fn delete_run(pool: &PgPool, run_id: &RunId) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM pipeline_runs WHERE run_id = $1").bind(run_id.as_str()).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultOrder {
    Input,
    Rank,
}

/// One page of a run's compound results.
///
/// In input order, page `p` holds the compounds with index
/// `(p - 1) * page_size ..= p * page_size - 1` that have a result: a range
/// of the primary key, read without touching any other row. Once a run has
/// finished every compound has its row, so this is the same as skipping
/// `(p - 1) * page_size` rows; while it runs, a page keeps the same
/// compounds as results arrive (only filling up) instead of shifting, and
/// reading page 50 no longer costs Postgres the 980 rows before it (an
/// `OFFSET` read each of them: most of Postgres' work under the load
/// benchmark's 100 result pages a second). By rank (set when the run
/// finishes), pages are ranges of the rank index, then the compounds
/// without a rank in input order.
pub async fn list_results(pool: &PgPool, run_pk: i64, order: ResultOrder, page: i64, page_size: i64) -> Result<Vec<CompoundRow>, sqlx::Error> {
    let skip = (page - 1).saturating_mul(page_size);
    let columns = &*COMPOUND_COLUMNS;
    match order {
        ResultOrder::Input => {
            let sql = format!("SELECT {columns} FROM {COMPOUND_FROM_PAGE} WHERE c.run_pk = $1 AND c.idx >= $2 AND c.idx < $3 ORDER BY c.idx");
            let first = skip.clamp(0, i32::MAX as i64) as i32;
            let end = skip.saturating_add(page_size).clamp(0, i32::MAX as i64) as i32;
            sqlx::query_as::<_, CompoundRow>(&sql).bind(run_pk).bind(first).bind(end).fetch_all(pool).await
        }
        ResultOrder::Rank => {
            // Rank orders are 1..=ranked, dense, stored with the ranks: a
            // page of them is a range of the rank_order index, whatever its
            // number (an OFFSET read every entry before it: page 9,999 of a
            // 1,000,000-compound run scanned a million). Compounds without a
            // rank (no score) follow in input order.
            let ranked: i64 =
                sqlx::query_scalar("SELECT coalesce(max(rank_order), 0)::bigint FROM compound_results WHERE run_pk = $1").bind(run_pk).fetch_one(pool).await?;
            let mut rows = Vec::new();
            if skip < ranked {
                let sql = format!(
                    "SELECT {columns} FROM {COMPOUND_FROM_PAGE} WHERE c.run_pk = $1 AND c.rank_order > $2 AND c.rank_order <= $3 ORDER BY c.rank_order"
                );
                rows = sqlx::query_as::<_, CompoundRow>(&sql)
                    .bind(run_pk)
                    .bind(skip.clamp(0, i32::MAX as i64) as i32)
                    .bind(skip.saturating_add(page_size).min(ranked).clamp(0, i32::MAX as i64) as i32)
                    .fetch_all(pool)
                    .await?;
            }
            let wanted = page_size - rows.len() as i64;
            if wanted > 0 {
                let sql = format!("SELECT {columns} FROM {COMPOUND_FROM_PAGE} WHERE c.run_pk = $1 AND c.rank_order IS NULL ORDER BY c.idx LIMIT $2 OFFSET $3");
                let unranked = sqlx::query_as::<_, CompoundRow>(&sql).bind(run_pk).bind(wanted).bind((skip - ranked).max(0)).fetch_all(pool).await?;
                rows.extend(unranked);
            }
            Ok(rows)
        }
    }
}

/// How many compound results a run has stored, read from its row: the
/// aggregator writes a compound's row in the same transaction in which it
/// counts the compound's first stage (done, failed or skipped), and never
/// otherwise, so the first stage's counts are the number of rows. (A
/// `count(*)` over a 100,000-compound run costs Postgres ~10 ms for every
/// results page a client asks for while the run is going.)
pub fn results_stored(run: &RunRow) -> i64 {
    let Some(first) = run.adapter_sequence.first() else {
        return 0;
    };
    run.stage_counts.named(first).passed()
}

/// Compound results of one run, at most `limit`, in input order (for the run's
/// inline `results.compounds`).
pub async fn first_results(pool: &PgPool, run_pk: i64, limit: i64) -> Result<Vec<CompoundRow>, sqlx::Error> {
    list_results(pool, run_pk, ResultOrder::Input, 1, limit).await
}

/// The record of a compound whose message was lost at `adapter` (an
/// undecodable dead letter), rebuilt from the run's stored input: failed at
/// that adapter with `reason`, the remaining stages skipped. `None` when the
/// run or the compound does not exist (deleted, or a made-up id).
pub async fn lost_compound_record(
    pool: &PgPool,
    run_id: &RunId,
    index: u32,
    adapter: pharmforge_core::AdapterName,
    reason: &str,
) -> Result<Option<pharmforge_core::CompoundRecord>, sqlx::Error> {
    let row: Option<(Vec<String>, Option<String>)> = sqlx::query_as(
        "SELECT p.adapter_sequence, i.smiles FROM pipeline_runs p \
         LEFT JOIN run_inputs i ON i.run_pk = p.id AND i.idx = $2 WHERE p.run_id = $1",
    )
    .bind(run_id.as_str())
    .bind(index as i32)
    .fetch_optional(pool)
    .await?;
    let Some((sequence, Some(smiles))) = row else {
        return Ok(None);
    };
    let route: Vec<_> = sequence.iter().filter_map(|a| pharmforge_core::AdapterName::parse(a)).collect();
    let Some(position) = route.iter().position(|a| *a == adapter) else {
        return Ok(None);
    };
    let mut record = pharmforge_core::CompoundRecord::new(run_id, index, smiles, route);
    record.step = position as u16;
    record.set_fatal(adapter, reason);
    record.advance();
    Ok(Some(record))
}

/// One page of an export: a range of an index, so that an export costs the
/// same per row at its end as at its start, holds no connection between
/// pages, and pages can be read several at once (Postgres' one backend per
/// query is what an export waits for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportPage {
    /// Results with `from <= idx < to`, in input order.
    Input { from: i32, to: i32 },
    /// Ranked results with `from <= rank_order < to`, in rank order.
    Ranked { from: i32, to: i32 },
    /// Unranked results (no score) with `from <= idx < to`, in input order:
    /// they follow the ranked ones.
    Unranked { from: i32, to: i32 },
}

/// The pages of `size` rows that cover a run's results in `order` (input
/// order, or rank order then the unranked in input order), from the largest
/// index and rank stored when it is called: results stored later are not
/// in the export, as they were not with a cursor.
pub async fn export_pages(pool: &PgPool, run_pk: i64, order: ResultOrder, size: i32) -> Result<Vec<ExportPage>, sqlx::Error> {
    let (last_idx, last_rank): (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT max(idx), max(rank_order) FROM compound_results WHERE run_pk = $1").bind(run_pk).fetch_one(pool).await?;
    let size = size.max(1);
    let ranges = |last: Option<i32>, first: i32| -> Vec<(i32, i32)> {
        let Some(last) = last else { return Vec::new() };
        (first..=last).step_by(size as usize).map(|from| (from, from.saturating_add(size).min(last.saturating_add(1)))).collect()
    };
    Ok(match order {
        ResultOrder::Input => ranges(last_idx, 0).into_iter().map(|(from, to)| ExportPage::Input { from, to }).collect(),
        ResultOrder::Rank => ranges(last_rank, 1)
            .into_iter()
            .map(|(from, to)| ExportPage::Ranked { from, to })
            .chain(ranges(last_idx, 0).into_iter().map(|(from, to)| ExportPage::Unranked { from, to }))
            .collect(),
    })
}

/// One page's results, in its order. Without `admet_json` the ADMET
/// section's JSON is left out (`None`) where its numbers and model are
/// stored apart (`admet_values`, `admet_model`): printing it is most of what
/// Postgres spends on a page, and a flat export's ADMET columns are those.
pub async fn export_page(pool: &PgPool, run_pk: i64, page: ExportPage, admet_json: bool) -> Result<Vec<CompoundRow>, sqlx::Error> {
    let (sql, from, to) = export_page_query(page, admet_json);
    sqlx::query_as::<_, CompoundRow>(&sql).bind(run_pk).bind(from).bind(to).bind(i64::from(to) - i64::from(from)).fetch_all(pool).await
}

/// The query of [`export_page`] (`$1` the run, `$2..$3` the range, `$4`
/// the limit) and its range: public for tests that read its plan.
pub fn export_page_query(page: ExportPage, admet_json: bool) -> (String, i32, i32) {
    let columns =
        if admet_json { COMPOUND_COLUMNS.clone() } else { COMPOUND_COLUMNS.replace("c.admet,", "CASE WHEN c.admet_values IS NULL THEN c.admet END AS admet,") };
    let (sql, from, to) = match page {
        ExportPage::Input { from, to } => ("c.idx >= $2 AND c.idx < $3 ORDER BY c.idx", from, to),
        ExportPage::Ranked { from, to } => ("c.rank_order >= $2 AND c.rank_order < $3 ORDER BY c.rank_order", from, to),
        ExportPage::Unranked { from, to } => ("c.rank_order IS NULL AND c.idx >= $2 AND c.idx < $3 ORDER BY c.idx", from, to),
    };
    // The LIMIT (a page never holds more) keeps the planner on the index:
    // without it, a generic plan hashed the run's whole input for every
    // page (three times the CPU).
    (format!("SELECT {columns} FROM {COMPOUND_FROM_PAGE} WHERE c.run_pk = $1 AND {sql} LIMIT $4"), from, to)
}

/// The keys each section of a run's results has, over all its compounds,
/// sorted, in the order of [`section::Section::all`] (the flat
/// columns of an export). Kept in the run's `result_keys` as results are
/// written; a run finished before that was kept is scanned once, and its
/// keys stored.
pub async fn section_keys(pool: &PgPool, run_pk: i64) -> Result<Vec<(section::Section, Vec<String>)>, sqlx::Error> {
    let (kept, status): (Value, String) =
        sqlx::query_as("SELECT result_keys, status FROM pipeline_runs WHERE id = $1").bind(run_pk).fetch_optional(pool).await?.unwrap_or_default();
    let mut keys: std::collections::BTreeMap<String, Vec<String>> = serde_json::from_value(kept).unwrap_or_default();
    let finished = RunStatus::parse(&status).is_some_and(RunStatus::is_finished);
    if keys.is_empty() && finished {
        keys = scan_section_keys(pool, run_pk).await?;
        sqlx::query("UPDATE pipeline_runs SET result_keys = $2 WHERE id = $1 AND result_keys = '{}'")
            .bind(run_pk)
            .bind(serde_json::to_value(&keys).expect("keys serialize"))
            .execute(pool)
            .await?;
    }
    let mut found: Vec<(section::Section, Vec<String>)> =
        section::Section::all().filter_map(|s| Some((s, keys.remove(s.stored_name())?))).filter(|(_, k)| !k.is_empty()).collect();
    for (_, k) in found.iter_mut() {
        k.sort();
        k.dedup();
    }
    Ok(found)
}

/// The keys of each section, read from every result (slow: seconds for
/// 100,000 compounds).
async fn scan_section_keys(pool: &PgPool, run_pk: i64) -> Result<std::collections::BTreeMap<String, Vec<String>>, sqlx::Error> {
    let mut parts: Vec<String> = section::Section::all()
        .filter(|s| *s != section::Section::Input)
        .map(|section| {
            let s = section.stored_name();
            let object = |json: &str| format!("jsonb_object_keys(CASE WHEN jsonb_typeof({json}) = 'object' THEN {json} END)");
            if section.nested().is_empty() {
                return format!("SELECT DISTINCT '{s}' AS s, k FROM compound_results, {} k WHERE run_pk = $1", object(s));
            }
            // Flattened as the aggregator notes them (section::flat_keys).
            let nested: Vec<String> = section.nested().iter().map(|n| format!("'{n}'")).collect();
            let inner: Vec<String> = section.nested().iter().map(|n| format!("SELECT {}", object(&format!("{s} -> '{n}'")))).collect();
            format!(
                "SELECT DISTINCT '{s}' AS s, k FROM compound_results, LATERAL ( \
                     SELECT e.key FROM jsonb_each(CASE WHEN jsonb_typeof({s}) = 'object' THEN {s} END) e \
                     WHERE NOT (e.key IN ({}) AND jsonb_typeof(e.value) = 'object') UNION ALL {}) x(k) WHERE run_pk = $1",
                nested.join(", "),
                inner.join(" UNION ALL ")
            )
        })
        .collect();
    parts.push(
        "SELECT DISTINCT 'input_properties', k FROM run_inputs, jsonb_object_keys(CASE WHEN jsonb_typeof(properties) = 'object' THEN properties END) k WHERE run_pk = $1"
            .into(),
    );
    let rows: Vec<(String, String)> = sqlx::query_as(&parts.join(" UNION ALL ")).bind(run_pk).fetch_all(pool).await?;
    let mut keys: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (section, key) in rows {
        keys.entry(section).or_default().push(key);
    }
    Ok(keys)
}
