//! Browsing a run's results as a table (`GET /runs/{id}/results` with
//! `sort=`, `order=`, `failed=`, `q=`, `view=`): the order of a browse is
//! computed once by Postgres and kept here while it cannot change (the run
//! has finished), so every later page of it is a primary-key read, however
//! deep, on a 100,000-compound run.

use crate::error::ApiError;
use pharmforge_store::browse::{self, Browse, Detail, SortKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the order of a run still going is reused (its results change).
const LIVE_FOR: Duration = Duration::from_secs(2);
/// Indexes kept in all (4 bytes each): 32 MB.
const KEEP_INDEXES: usize = 8 << 20;

struct Kept {
    indexes: Arc<Vec<i32>>,
    made: Instant,
    finished: bool,
}

/// The orders computed lately, by run and browse.
#[derive(Clone, Default)]
pub struct Orders(Arc<Mutex<HashMap<OrderKey, Kept>>>);

/// A run's row id and scoring version, and the browse.
type OrderKey = ((i64, i32), Browse);

impl Orders {
    /// The indexes of `browse` over run `run_pk` as scored `version` times
    /// (a rescore changes scores and ranks, and so the order), computed or kept.
    pub async fn get(&self, pool: &sqlx::PgPool, (run_pk, version): (i64, i32), finished: bool, browse: &Browse) -> Result<Arc<Vec<i32>>, ApiError> {
        let key = ((run_pk, version), browse.clone());
        if let Some(k) = self.0.lock().unwrap().get(&key) {
            if k.finished || k.made.elapsed() < LIVE_FOR {
                return Ok(k.indexes.clone());
            }
        }
        let indexes = Arc::new(browse::ordered_indexes(pool, run_pk, browse).await?);
        let mut kept = self.0.lock().unwrap();
        let mut total: usize = kept.values().map(|k| k.indexes.len()).sum::<usize>() + indexes.len();
        while total > KEEP_INDEXES {
            let Some(oldest) = kept.iter().min_by_key(|(_, k)| k.made).map(|(key, _)| key.clone()) else { break };
            total -= kept.remove(&oldest).map_or(0, |k| k.indexes.len());
        }
        kept.retain(|_, k| k.finished || k.made.elapsed() < LIVE_FOR);
        kept.insert(key, Kept { indexes: indexes.clone(), made: Instant::now(), finished });
        Ok(indexes)
    }
}

/// A results query's browse parameters, as given.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrowseQuery {
    /// index (default), rank, final_score, id, smiles, status; a short name: mw, logp, tpsa, qed, lipinski,
    /// herg, ames, dili, bbb, solubility, clintox, cid, chembl_id, best_pchembl; or section.field (properties.,
    /// admet., pubchem., bioactivity., scaffolds., scores., errors., input.): by the field's number where it is one, else
    /// its text. Missing values come last whichever the order; ties in input order. Any sort but index and
    /// rank, or any filter, pages the matching results by position (the order of a finished run is computed
    /// once and kept).
    #[param(max_length = 200)]
    pub sort: Option<String>,
    #[param(value_type = Option<crate::openapi::SortOrder>, inline, default = "asc")]
    pub order: Option<String>,
    /// true: only compounds that failed or carry an adapter's error.
    #[param(value_type = Option<bool>, default = false)]
    pub failed: Option<String>,
    /// Only compounds whose ID or compound_id contains this (any case), or whose SMILES contains it exactly.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// full (default): every section whole; table: what a results table shows (properties, scores, errors
    /// whole; of admet only properties.{hERG, AMES, DILI, BBB_Martins, Solubility_AqSolDB, ClinTox} and their
    /// percentiles.<name>_drugbank_approved_percentile; of pubchem cid and found; of bioactivity
    /// molecule_chembl_id, best_pchembl and found), ~1 kB a compound instead of ~6 kB.
    #[param(value_type = Option<crate::openapi::View>, inline, default = "full")]
    pub view: Option<String>,
}

/// The browse a results query asks for (the plain input or rank order
/// with whole sections when it asks for none).
pub fn from_query(query: &BrowseQuery) -> Result<(Browse, Detail), ApiError> {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|v| !v.is_empty())
    }
    let sort = SortKey::parse(given(&query.sort).unwrap_or("index")).map_err(ApiError::BadRequest)?;
    let descending = match given(&query.order) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("order must be \"asc\" or \"desc\", got {:?}", clip(other)))),
    };
    let failed_only = match given(&query.failed) {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("failed must be true or false, got {:?}", clip(other)))),
    };
    let search = match given(&query.q) {
        Some(s) if s.chars().count() > 200 => return Err(ApiError::BadRequest("q (the search) must be at most 200 characters".into())),
        Some(s) if s.chars().any(char::is_control) => return Err(ApiError::BadRequest("q (the search) must not contain control characters".into())),
        other => other.map(str::to_owned),
    };
    let detail = match given(&query.view) {
        None | Some("full") => Detail::Full,
        Some("table") => Detail::Table,
        Some(other) => return Err(ApiError::BadRequest(format!("view must be \"full\" or \"table\", got {:?}", clip(other)))),
    };
    Ok((Browse { sort, descending, failed_only, search }, detail))
}

fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> BrowseQuery {
        serde_urlencoded::from_str(&serde_urlencoded::to_string(pairs).unwrap()).unwrap()
    }

    #[test]
    fn a_query_becomes_a_browse_or_a_clear_error() {
        let (b, d) = from_query(&q(&[])).unwrap();
        assert!(b.is_plain());
        assert_eq!(d, Detail::Full);
        let (b, d) = from_query(&q(&[("sort", "logp"), ("order", "desc"), ("failed", "true"), ("q", "CCO"), ("view", "table")])).unwrap();
        assert!(!b.is_plain() && b.descending && b.failed_only);
        assert_eq!((b.search.as_deref(), d), (Some("CCO"), Detail::Table));
        for bad in [("order", "up"), ("failed", "maybe"), ("view", "huge"), ("sort", "nonsense")] {
            let e = from_query(&q(&[bad])).unwrap_err();
            assert!(matches!(e, ApiError::BadRequest(_)), "{bad:?}");
        }
        assert!(from_query(&q(&[("q", &"x".repeat(201))])).is_err());
    }
}
