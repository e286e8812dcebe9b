//! `GET /runs/{id}/export`: a whole run as CSV, SD file or JSON lines,
//! streamed a page of results at a time, so an export of any size needs the
//! memory of one page.
//!
//! CSV and SD files have the same flat columns, named by section so that
//! none collide (`properties.logp`, `admet.hERG`, `errors.pubchem`, ...):
//! the keys every section has over the whole run, read from Postgres before
//! the first row, in byte order, so a finished run's export is the same
//! bytes every time. Lists and objects inside a section go in one cell as
//! their JSON text.

use crate::error::ApiError;
use crate::views;
use bytes::Bytes;
use futures::Stream;
use pharmforge_store::{self as store, CompoundRow, ExportCursor, ResultOrder};
use serde_json::value::RawValue;
use sqlx::PgPool;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Results read per page.
const PAGE: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Sdf,
    Jsonl,
}

impl ExportFormat {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "csv" => Some(ExportFormat::Csv),
            "sdf" => Some(ExportFormat::Sdf),
            "jsonl" | "ndjson" => Some(ExportFormat::Jsonl),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Sdf => "chemical/x-mdl-sdfile",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Sdf => "sdf",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

/// The sections of a stored result, in the order of their columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Properties,
    Admet,
    Pubchem,
    Bioactivity,
    Docking,
    Synthesis,
    Scores,
    Errors,
    Input,
}

impl Section {
    fn parse(stored: &str) -> Option<Section> {
        Some(match stored {
            "properties" => Section::Properties,
            "admet" => Section::Admet,
            "pubchem" => Section::Pubchem,
            "bioactivity" => Section::Bioactivity,
            "docking" => Section::Docking,
            "synthesis" => Section::Synthesis,
            "scores" => Section::Scores,
            "errors" => Section::Errors,
            "input_properties" => Section::Input,
            _ => return None,
        })
    }

    /// Its columns' prefix.
    fn prefix(self) -> &'static str {
        match self {
            Section::Properties => "properties",
            Section::Admet => "admet",
            Section::Pubchem => "pubchem",
            Section::Bioactivity => "bioactivity",
            Section::Docking => "docking",
            Section::Synthesis => "synthesis",
            Section::Scores => "scores",
            Section::Errors => "errors",
            Section::Input => "input",
        }
    }

    fn of(self, row: &CompoundRow) -> Option<&RawValue> {
        let stored = match self {
            Section::Properties => &row.properties,
            Section::Admet => &row.admet,
            Section::Pubchem => &row.pubchem,
            Section::Bioactivity => &row.bioactivity,
            Section::Docking => &row.docking,
            Section::Synthesis => &row.synthesis,
            Section::Scores => &row.scores,
            Section::Errors => return Some(&row.errors.0),
            Section::Input => &row.input_properties,
        };
        stored.as_ref().map(|j| &*j.0)
    }
}

/// One column of a flat export.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Id,
    Index,
    CompoundId,
    Smiles,
    Status,
    FinalScore,
    Rank,
    Key(Section, String),
}

#[derive(Debug, Clone)]
pub struct Column {
    name: String,
    field: Field,
}

/// The columns of a run's flat export: `id`, `index`, `compound_id`,
/// `smiles`, `status`, each section's keys, `final_score`, `rank`, then
/// `errors.<adapter>` and `input.<name>`; `only` keeps those named (a name
/// ending in `.*` keeps a whole section), in the order given.
pub async fn columns(pool: &PgPool, run_pk: i64, only: Option<&str>) -> Result<Vec<Column>, ApiError> {
    let keys = store::section_keys(pool, run_pk).await?;
    let plain = |name: &str, field| Column { name: name.into(), field };
    let mut all = vec![
        plain("id", Field::Id),
        plain("index", Field::Index),
        plain("compound_id", Field::CompoundId),
        plain("smiles", Field::Smiles),
        plain("status", Field::Status),
    ];
    let section_columns = |wanted: &[Section]| -> Vec<Column> {
        keys.iter()
            .filter_map(|(s, keys)| Section::parse(s).filter(|s| wanted.contains(s)).map(|s| (s, keys)))
            .flat_map(|(s, keys)| keys.iter().map(move |k| Column { name: format!("{}.{k}", s.prefix()), field: Field::Key(s, k.clone()) }))
            .collect()
    };
    use Section::*;
    all.extend(section_columns(&[Properties, Admet, Pubchem, Bioactivity, Docking, Synthesis, Scores]));
    all.push(plain("final_score", Field::FinalScore));
    all.push(plain("rank", Field::Rank));
    all.extend(section_columns(&[Errors, Input]));
    let Some(only) = only.filter(|o| !o.trim().is_empty()) else {
        return Ok(all);
    };
    let mut chosen = Vec::new();
    for name in only.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let matched: Vec<&Column> = match name.strip_suffix(".*") {
            Some(prefix) => all.iter().filter(|c| c.name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.'))).collect(),
            None => all.iter().filter(|c| c.name == name).collect(),
        };
        if matched.is_empty() && name.strip_suffix(".*").is_none() {
            let shown: String = name.chars().take(64).collect();
            let known: Vec<&str> = all.iter().take(12).map(|c| c.name.as_str()).collect();
            return Err(ApiError::BadRequest(format!(
                "no column {shown:?} in this run's export; columns are named like {}, ... (a section's all: admet.*)",
                known.join(", ")
            )));
        }
        chosen.extend(matched.into_iter().filter(|c| !chosen.iter().any(|k: &Column| k.name == c.name)).cloned().collect::<Vec<_>>());
    }
    Ok(chosen)
}

/// A section's keys and values, borrowed from its JSON text.
fn fields_of(raw: &RawValue) -> HashMap<&str, &RawValue> {
    serde_json::from_str(raw.get()).unwrap_or_default()
}

/// A JSON value as a cell: strings unquoted, null empty, numbers and
/// booleans as written, lists and objects as their JSON text.
fn cell(raw: &RawValue) -> Cow<'_, str> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).map(Cow::Owned).unwrap_or(Cow::Borrowed(text)),
        Some(b'n') if text == "null" => Cow::Borrowed(""),
        _ => Cow::Borrowed(text),
    }
}

/// A row's cells, one per column.
fn cells<'r>(row: &'r CompoundRow, columns: &[Column]) -> Vec<Cow<'r, str>> {
    let mut parsed: Vec<(Section, HashMap<&'r str, &'r RawValue>)> = Vec::new();
    columns
        .iter()
        .map(|c| match &c.field {
            Field::Id => Cow::Borrowed(row.given_id.as_deref().unwrap_or("")),
            Field::Index => Cow::Owned(row.idx.to_string()),
            Field::CompoundId => Cow::Borrowed(row.compound_id.as_str()),
            Field::Smiles => Cow::Borrowed(row.smiles.as_str()),
            Field::Status => Cow::Borrowed(row.status.as_str()),
            Field::FinalScore => row.final_score.map(|s| Cow::Owned(number(s))).unwrap_or_default(),
            Field::Rank => row.rank.map(|r| Cow::Owned(r.to_string())).unwrap_or_default(),
            Field::Key(section, key) => {
                let at = match parsed.iter().position(|(s, _)| s == section) {
                    Some(at) => at,
                    None => {
                        parsed.push((*section, section.of(row).map(fields_of).unwrap_or_default()));
                        parsed.len() - 1
                    }
                };
                parsed[at].1.get(key.as_str()).map(|v| cell(v)).unwrap_or_default()
            }
        })
        .collect()
}

/// A float as JSON writes it (shortest text that reads back the same).
fn number(x: f64) -> String {
    serde_json::Number::from_f64(x).map(|n| n.to_string()).unwrap_or_default()
}

fn csv_writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new().has_headers(false).from_writer(out)
}

/// One page of results in the export's format.
fn render(format: ExportFormat, rows: &[CompoundRow], columns: &[Column]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 512);
    match format {
        ExportFormat::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut out, &views::compound(row)).expect("a result serializes");
                out.push(b'\n');
            }
        }
        ExportFormat::Csv => {
            let mut writer = csv_writer(&mut out);
            for row in rows {
                writer.write_record(cells(row, columns).iter().map(|c| c.as_ref())).expect("writing to memory cannot fail");
            }
            writer.flush().expect("writing to memory cannot fail");
        }
        ExportFormat::Sdf => {
            for row in rows {
                let cells = cells(row, columns);
                let data: Vec<(&str, &str)> =
                    columns.iter().zip(&cells).filter(|(c, v)| !v.is_empty() && c.field != Field::Smiles).map(|(c, v)| (c.name.as_str(), v.as_ref())).collect();
                let title = row.given_id.as_deref().unwrap_or(&row.compound_id);
                // A compound whose SMILES RDKit cannot read keeps its record
                // (and its values), as a molecule without atoms.
                let record = pharmforge_chem::sd_record_2d(&row.smiles, title, &data)
                    .unwrap_or_else(|_| pharmforge_chem::sd_record_without_molecule(title, &data));
                out.extend_from_slice(record.as_bytes());
            }
        }
    }
    out
}

/// The export's bytes: the header (CSV), then a page of results at a time.
pub fn stream(pool: PgPool, run_pk: i64, format: ExportFormat, order: ResultOrder, columns: Vec<Column>) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    let columns = Arc::new(columns);
    let header = match format {
        ExportFormat::Csv => {
            let mut out = Vec::new();
            let mut writer = csv_writer(&mut out);
            writer.write_record(columns.iter().map(|c| c.name.as_str())).expect("writing to memory cannot fail");
            writer.flush().expect("writing to memory cannot fail");
            drop(writer);
            Some(Bytes::from(out))
        }
        _ => None,
    };
    let cursor = ExportCursor::start(order);
    futures::stream::unfold((header, cursor), move |(header, mut cursor)| {
        let (pool, columns) = (pool.clone(), columns.clone());
        async move {
            if let Some(header) = header {
                return Some((Ok(header), (None, cursor)));
            }
            if cursor == ExportCursor::Done {
                return None;
            }
            let rows = match store::export_page(&pool, run_pk, &mut cursor, PAGE).await {
                Ok(rows) => rows,
                Err(e) => {
                    // Headers are sent: all that is left is to cut the
                    // response short, which the client sees as an error.
                    tracing::warn!(error = %e, run_pk, "export stopped: reading results failed");
                    return Some((Err(std::io::Error::other(e)), (None, ExportCursor::Done)));
                }
            };
            if rows.is_empty() {
                return None;
            }
            let bytes = match format {
                // RDKit's layout and writer: off the async threads.
                ExportFormat::Sdf => tokio::task::spawn_blocking(move || render(format, &rows, &columns)).await.unwrap_or_default(),
                _ => render(format, &rows, &columns),
            };
            Some((Ok(Bytes::from(bytes)), (None, cursor)))
        }
    })
}
