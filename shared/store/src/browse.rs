//! A run's results as a table is browsed: sorted by any column, filtered to
//! the failed ones, searched by ID or SMILES, a page at a time, with the
//! sections cut down to the numbers a table shows.
//!
//! Sorting a 100,000-compound run by an ADMET value reads every compound's
//! ADMET section (compressed, ~5 kB): a few hundred milliseconds. So a
//! browse is two steps: the order (`ordered_indexes`: the compound indexes
//! that match, in order, which the API keeps while the run cannot change),
//! then a page of it (`results_at`: a primary-key read of those indexes).

use crate::runs::{CompoundRow, COMPOUND_COLUMNS, COMPOUND_FROM, COMPOUND_FROM_PAGE};
use crate::section::Section;
use pharmforge_core::profile::PERCENTILE_SUFFIX;
use sqlx::PgPool;

/// What to sort by: a top-level column, or one field of a section.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SortKey {
    Index,
    Rank,
    FinalScore,
    Id,
    Smiles,
    Status,
    /// A field of a section, by its path in it (`admet`'s predictions sit
    /// under `properties`, their percentiles under `percentiles`): the
    /// field's number when it is one, else its text.
    Field {
        section: Section,
        path: Vec<String>,
    },
}

use pharmforge_core::Section as Stored;
const PROPERTIES: Section = Section::Result(Stored::Properties);
const ADMET: Section = Section::Result(Stored::Admet);
const PUBCHEM: Section = Section::Result(Stored::Pubchem);
const BIOACTIVITY: Section = Section::Result(Stored::Bioactivity);

/// Short names for the columns a results table shows.
const ALIASES: [(&str, Section, &str); 14] = [
    ("mw", PROPERTIES, "molecular_weight"),
    ("logp", PROPERTIES, "logp"),
    ("tpsa", PROPERTIES, "tpsa"),
    ("qed", PROPERTIES, "qed"),
    ("lipinski", PROPERTIES, "lipinski_violations"),
    ("herg", ADMET, "hERG"),
    ("ames", ADMET, "AMES"),
    ("dili", ADMET, "DILI"),
    ("bbb", ADMET, "BBB_Martins"),
    ("solubility", ADMET, "Solubility_AqSolDB"),
    ("cid", PUBCHEM, "cid"),
    ("chembl_id", BIOACTIVITY, "molecule_chembl_id"),
    ("best_pchembl", BIOACTIVITY, "best_pchembl"),
    ("clintox", ADMET, "ClinTox"),
];

impl SortKey {
    /// `index`, `rank`, `final_score`, `id`, `smiles`, `status`, a short
    /// name (`mw`, `logp`, `herg`, ...: [`ALIASES`]) or `section.field`
    /// (any section of [`Section::all`]: `properties.`, `admet.`, ...,
    /// `scaffolds.`, `scores.`, `errors.`, `input.`).
    pub fn parse(s: &str) -> Result<SortKey, String> {
        Ok(match s {
            "" | "index" | "input" => SortKey::Index,
            "rank" => SortKey::Rank,
            "final_score" | "score" => SortKey::FinalScore,
            "id" => SortKey::Id,
            "smiles" => SortKey::Smiles,
            "status" => SortKey::Status,
            other => {
                if let Some((_, section, field)) = ALIASES.iter().find(|(a, _, _)| *a == other) {
                    return Ok(SortKey::field(*section, field));
                }
                let (section, field) = other.split_once('.').ok_or_else(|| {
                    format!(
                        "sort must be index, rank, final_score, id, smiles, status, a short name ({}) or section.field, got {:?}",
                        ALIASES.map(|a| a.0).join(", "),
                        clip(other)
                    )
                })?;
                let Some(section) = Section::parse(section) else {
                    let known: Vec<&str> = Section::all().map(Section::name).collect();
                    return Err(format!("cannot sort by {:?}: no section {:?} ({})", clip(other), clip(section), known.join(", ")));
                };
                if field.is_empty() || field.len() > 128 || field.chars().any(char::is_control) {
                    return Err(format!("cannot sort by {:?}: the field name must be 1 to 128 printable characters", clip(other)));
                }
                SortKey::field(section, field)
            }
        })
    }

    /// `field` of `section`, as an export's column names it: an ADMET
    /// endpoint (`admet.hERG`) or its percentile
    /// (`admet.hERG_drugbank_approved_percentile`) is found where the
    /// section keeps it; a dotted name is a path (`admet.properties.hERG`).
    fn field(section: Section, field: &str) -> SortKey {
        let mut path: Vec<String> = field.split('.').map(str::to_owned).collect();
        if section == ADMET && path.len() == 1 && path[0] != "model" {
            let under = if field.ends_with(PERCENTILE_SUFFIX) { "percentiles" } else { "properties" };
            path.insert(0, under.to_owned());
        }
        SortKey::Field { section, path }
    }
}

/// Where an ADMET value named by its path in the section
/// (`["properties", "hERG"]`, `["percentiles", "hERG_drugbank_approved_percentile"]`)
/// is in `admet_values`, 0-based.
pub(crate) fn admet_position(section: Section, path: &[impl AsRef<str>]) -> Option<usize> {
    let [part, name] = path else { return None };
    let at = pharmforge_core::profile::admet_value_position(name.as_ref())?;
    let predictions = pharmforge_core::profile::ADMET_FIELDS.len();
    let fits = match part.as_ref() {
        "properties" => at < predictions,
        "percentiles" => at >= predictions,
        _ => false,
    };
    (section == ADMET && fits).then_some(at)
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Which of a run's results, in which order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Browse {
    pub sort: SortKey,
    pub descending: bool,
    /// Only compounds that failed, or carry an adapter's error.
    pub failed_only: bool,
    /// Only compounds whose ID or compound_id contains it (any case), or
    /// whose SMILES contains it (exactly).
    pub search: Option<String>,
}

impl Browse {
    /// The plain input order of every compound: what `list_results` serves
    /// without a browse.
    pub fn is_plain(&self) -> bool {
        !self.failed_only && self.search.is_none() && !self.descending && matches!(self.sort, SortKey::Index | SortKey::Rank)
    }
}

/// The indexes of the run's results that match, in the browse's order
/// (ties in input order; missing values last whichever the direction).
pub async fn ordered_indexes(pool: &PgPool, run_pk: i64, browse: &Browse) -> Result<Vec<i32>, sqlx::Error> {
    let dir = if browse.descending { "DESC" } else { "ASC" };
    let order = match &browse.sort {
        SortKey::Index => format!("c.idx {dir}"),
        SortKey::Rank => format!("c.rank_order {dir} NULLS LAST, c.idx"),
        SortKey::FinalScore => format!("c.final_score {dir} NULLS LAST, c.idx"),
        SortKey::Id => format!("i.given_id {dir} NULLS LAST, c.compound_id {dir}, c.idx"),
        SortKey::Smiles => format!("c.smiles {dir}, c.idx"),
        SortKey::Status => format!("c.status {dir}, c.idx"),
        SortKey::Field { section, path } if admet_position(*section, path).is_some() => {
            // Read from the array stored beside the section (the JSON only
            // for a row written without it).
            let at = admet_position(*section, path).expect("checked") + 1;
            format!("COALESCE(c.admet_values[{at}], CASE WHEN jsonb_typeof(c.admet #> $2::text[]) = 'number' THEN (c.admet #>> $2::text[])::float8 END) {dir} NULLS LAST, c.idx")
        }
        SortKey::Field { section, .. } => {
            let v = format!("({} #> $2::text[])", section.column());
            format!(
                "CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v} #>> '{{}}')::float8 END {dir} NULLS LAST, \
                     CASE WHEN jsonb_typeof({v}) IN ('string', 'boolean') THEN {v} #>> '{{}}' END {dir} NULLS LAST, c.idx"
            )
        }
    };
    let field: Option<Vec<String>> = match &browse.sort {
        SortKey::Field { path, .. } => Some(path.clone()),
        _ => None,
    };
    let mut filters = String::new();
    if browse.failed_only {
        filters.push_str(" AND (c.status = 'failed' OR c.errors <> '{}'::jsonb)");
    }
    let search = browse.search.as_deref().filter(|s| !s.is_empty());
    if search.is_some() {
        filters.push_str(" AND (i.given_id ILIKE $3 ESCAPE '\\' OR c.compound_id ILIKE $3 ESCAPE '\\' OR strpos(c.smiles, $4) > 0)");
    }
    let like = search.map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    let sql = format!("SELECT c.idx FROM {COMPOUND_FROM} WHERE c.run_pk = $1 AND ($2::text[] IS NULL OR true){filters} ORDER BY {order}");
    let mut q = sqlx::query_scalar::<_, i32>(&sql).bind(run_pk).bind(field);
    if search.is_some() {
        q = q.bind(like).bind(search);
    }
    q.fetch_all(pool).await
}

/// How much of each section a page carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every section whole.
    Full,
    /// What a results table shows: the properties section, the scores, the
    /// errors, and of the others only the fields named in [`ALIASES`]
    /// (ADMET's with their DrugBank percentiles): ~1 kB a compound instead
    /// of ~6 kB.
    Table,
}

fn table_columns() -> String {
    let picks = |section: Section| -> Vec<&str> { ALIASES.iter().filter(|(_, s, _)| *s == section).map(|(_, _, f)| *f).collect() };
    let object = |from: &str, keys: &[String]| {
        let fields: Vec<String> = keys.iter().map(|k| format!("'{k}', {from} -> '{k}'")).collect();
        format!("jsonb_strip_nulls(jsonb_build_object({}))", fields.join(", "))
    };
    let admet = picks(ADMET);
    let predictions: Vec<String> = admet.iter().map(|f| f.to_string()).collect();
    let percentiles: Vec<String> = admet.iter().map(|f| format!("{f}{PERCENTILE_SUFFIX}")).collect();
    let admet = format!(
        "CASE WHEN jsonb_typeof(c.admet) = 'object' THEN jsonb_build_object('properties', {}, 'percentiles', {}) ELSE c.admet END AS admet,",
        object("(c.admet -> 'properties')", &predictions),
        object("(c.admet -> 'percentiles')", &percentiles)
    );
    let with_found = |section: Section| {
        let col = &section.column();
        let mut keys: Vec<String> = picks(section).iter().map(|f| f.to_string()).collect();
        keys.push("found".into());
        format!("CASE WHEN jsonb_typeof({col}) = 'object' THEN {} ELSE {col} END AS {},", object(col, &keys), col.trim_start_matches("c."))
    };
    COMPOUND_COLUMNS
        .replace("c.admet,", &admet)
        .replace("c.pubchem,", &with_found(PUBCHEM))
        .replace("c.bioactivity,", &with_found(BIOACTIVITY))
        .replace("i.properties AS input_properties", "NULL::jsonb AS input_properties")
}

/// The results at `indexes`, in that order (those that do not exist are left out).
pub async fn results_at(pool: &PgPool, run_pk: i64, indexes: &[i32], detail: Detail) -> Result<Vec<CompoundRow>, sqlx::Error> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let columns = match detail {
        Detail::Full => COMPOUND_COLUMNS.clone(),
        Detail::Table => table_columns(),
    };
    let sql = format!("SELECT {columns} FROM {COMPOUND_FROM_PAGE} WHERE c.run_pk = $1 AND c.idx = ANY($2)");
    let mut rows = sqlx::query_as::<_, CompoundRow>(&sql).bind(run_pk).bind(indexes).fetch_all(pool).await?;
    let position: std::collections::HashMap<i32, usize> = indexes.iter().enumerate().map(|(p, i)| (*i, p)).collect();
    rows.sort_by_key(|r| position.get(&r.idx).copied().unwrap_or(usize::MAX));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_parse_names_aliases_and_fields() {
        assert_eq!(SortKey::parse("rank"), Ok(SortKey::Rank));
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(SortKey::parse("herg"), Ok(SortKey::Field { section: ADMET, path: path(&["properties", "hERG"]) }));
        assert_eq!(
            SortKey::parse("admet.hERG_drugbank_approved_percentile"),
            Ok(SortKey::Field { section: ADMET, path: path(&["percentiles", "hERG_drugbank_approved_percentile"]) })
        );
        assert_eq!(SortKey::parse("scores.qed"), Ok(SortKey::Field { section: Section::Scores, path: path(&["qed"]) }));
        assert_eq!(SortKey::parse("logp"), Ok(SortKey::Field { section: PROPERTIES, path: path(&["logp"]) }));
        assert_eq!(SortKey::parse("input.IC50 (nM)"), Ok(SortKey::Field { section: Section::Input, path: path(&["IC50 (nM)"]) }));
        assert!(SortKey::parse("bogus").unwrap_err().contains("short name"));
        let e = SortKey::parse("secrets.x").unwrap_err();
        assert!(e.ends_with(r#"no section "secrets" (properties, admet, pubchem, bioactivity, docking, synthesis, scaffolds, scores, errors, input)"#), "{e}");
        assert!(SortKey::parse("admet.").is_err());
    }

    #[test]
    fn the_table_view_replaces_only_the_large_sections() {
        let t = table_columns();
        assert!(t.contains("'hERG_drugbank_approved_percentile', (c.admet -> 'percentiles') -> 'hERG_drugbank_approved_percentile'"));
        assert!(t.contains("'hERG', (c.admet -> 'properties') -> 'hERG'"));
        assert!(t.contains("AS admet,") && t.contains("AS pubchem,") && t.contains("AS bioactivity,"));
        assert!(t.contains("c.properties,") && t.contains("NULL::jsonb AS input_properties"));
    }
}
