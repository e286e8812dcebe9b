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
use futures::{Stream, StreamExt};
use pharmforge_core::profile::Profile;
use pharmforge_store::section::Section;
use pharmforge_store::{self as store, CompoundRow, ResultOrder};
use serde_json::value::RawValue;
use sqlx::PgPool;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Results read per page.
const PAGE: i32 = 500;
/// Pages read from Postgres at once: one query is one backend, one core,
/// and an export was waiting for it (reading 100,000 results took Postgres
/// more CPU than the API's rendering of them).
const PAGES_AT_ONCE: usize = 2;

/// An export's format (`jsonl` may also be named `ndjson`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
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
    ParetoFront,
    Key(Section, String),
}

#[derive(Debug, Clone)]
pub struct Column {
    name: String,
    field: Field,
}

/// The columns of a run's flat export: `id`, `index`, `compound_id`,
/// `smiles`, `status`, each section's keys, `final_score`, `rank` (and
/// `pareto_front` when the run is scored by a Pareto profile), then
/// `errors.<adapter>` and `input.<name>`; `only` keeps those named (a name
/// ending in `.*` keeps a whole section), in the order given.
pub async fn columns(pool: &PgPool, run_pk: i64, only: Option<&str>, pareto: bool) -> Result<Vec<Column>, ApiError> {
    let keys = store::section_keys(pool, run_pk).await?;
    let plain = |name: &str, field| Column { name: name.into(), field };
    let mut all = vec![
        plain("id", Field::Id),
        plain("index", Field::Index),
        plain("compound_id", Field::CompoundId),
        plain("smiles", Field::Smiles),
        plain("status", Field::Status),
    ];
    // Each section's columns (`admet.hERG`, ...): the errors' and the
    // input's (`last`) come after the final score and the rank.
    let section_columns = |last: bool| -> Vec<Column> {
        keys.iter()
            .filter(|(s, _)| matches!(s, Section::Errors | Section::Input) == last)
            .flat_map(|(s, keys)| keys.iter().map(move |k| Column { name: format!("{}.{k}", s.name()), field: Field::Key(*s, k.clone()) }))
            .collect()
    };
    all.extend(section_columns(false));
    all.push(plain("final_score", Field::FinalScore));
    all.push(plain("rank", Field::Rank));
    if pareto {
        all.push(plain("pareto_front", Field::ParetoFront));
    }
    all.extend(section_columns(true));
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

/// Where each column's value comes from, worked out once per export: the
/// row's own fields, and per section the column of each key, so that a
/// row's section is read in one pass over its JSON text, each value put in
/// its column as it is met (no map of it is built per row).
pub struct Layout {
    columns: Vec<Column>,
    sections: Vec<(Section, HashMap<String, usize>)>,
}

impl Layout {
    pub fn new(columns: Vec<Column>) -> Self {
        let mut sections: Vec<(Section, HashMap<String, usize>)> = Vec::new();
        for (at, c) in columns.iter().enumerate() {
            if let Field::Key(section, key) = &c.field {
                match sections.iter_mut().find(|(s, _)| s == section) {
                    Some((_, keys)) => {
                        keys.insert(key.clone(), at);
                    }
                    None => sections.push((*section, HashMap::from([(key.clone(), at)]))),
                }
            }
        }
        Layout { columns, sections }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }
}

/// A section's entries put in their columns: a visitor over its JSON object.
struct Fill<'l, 'c, 'r> {
    keys: &'l HashMap<String, usize>,
    cells: &'c mut [Cow<'r, str>],
}

/// A key of a section: the column it goes to, if any.
struct KeySeed<'l>(&'l HashMap<String, usize>);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.get(key).copied())
    }
}

impl<'de: 'r, 'r> serde::de::Visitor<'de> for Fill<'_, '_, 'r> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(at) = map.next_key_seed(KeySeed(self.keys))? {
            match at {
                Some(at) => self.cells[at] = cell(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A row's cells, one per column.
fn cells<'r>(row: &'r CompoundRow, layout: &Layout) -> Vec<Cow<'r, str>> {
    let mut cells: Vec<Cow<'r, str>> = layout
        .columns
        .iter()
        .map(|c| match &c.field {
            Field::Id => Cow::Borrowed(row.given_id.as_deref().unwrap_or("")),
            Field::Index => Cow::Owned(row.idx.to_string()),
            Field::CompoundId => Cow::Borrowed(row.compound_id.as_str()),
            Field::Smiles => Cow::Borrowed(row.smiles.as_str()),
            Field::Status => Cow::Borrowed(row.status.as_str()),
            Field::FinalScore => row.final_score.map(|s| Cow::Owned(number(s))).unwrap_or_default(),
            Field::Rank => row.rank.map(|r| Cow::Owned(r.to_string())).unwrap_or_default(),
            Field::ParetoFront => row.pareto_front.map(|r| Cow::Owned(r.to_string())).unwrap_or_default(),
            Field::Key(..) => Cow::Borrowed(""),
        })
        .collect();
    for (section, keys) in &layout.sections {
        if let Some(raw) = section.of(row) {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            // Anything but an object (or unreadable) leaves its cells empty.
            let _ = serde::Deserializer::deserialize_map(&mut de, Fill { keys, cells: &mut cells });
        }
    }
    cells
}

/// A float as JSON writes it (shortest text that reads back the same).
fn number(x: f64) -> String {
    serde_json::Number::from_f64(x).map(|n| n.to_string()).unwrap_or_default()
}

fn csv_writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new().has_headers(false).from_writer(out)
}

/// One page of results in the export's format.
fn render(format: ExportFormat, rows: &[CompoundRow], layout: &Layout, profile: &Profile) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 512);
    match format {
        ExportFormat::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut out, &views::compound(row, Some(profile))).expect("a result serializes");
                out.push(b'\n');
            }
        }
        ExportFormat::Csv => {
            let mut writer = csv_writer(&mut out);
            for row in rows {
                writer.write_record(cells(row, layout).iter().map(|c| c.as_ref())).expect("writing to memory cannot fail");
            }
            writer.flush().expect("writing to memory cannot fail");
        }
        ExportFormat::Sdf => {
            for row in rows {
                let cells = cells(row, layout);
                let data: Vec<(&str, &str)> = layout
                    .columns
                    .iter()
                    .zip(&cells)
                    .filter(|(c, v)| !v.is_empty() && c.field != Field::Smiles)
                    .map(|(c, v)| (c.name.as_str(), v.as_ref()))
                    .collect();
                let title = row.given_id.as_deref().unwrap_or(&row.compound_id);
                // A compound whose SMILES RDKit cannot read keeps its record
                // (and its values), as a molecule without atoms.
                let record =
                    pharmforge_chem::sd_record_2d(&row.smiles, title, &data).unwrap_or_else(|_| pharmforge_chem::sd_record_without_molecule(title, &data));
                out.extend_from_slice(record.as_bytes());
            }
        }
    }
    out
}

/// The export's bytes: the header (CSV), then a page of results at a time.
///
/// Three stages run at once, a page or two apart: reading pages from
/// Postgres (two queries at once), rendering them (on a blocking thread: an
/// SD page is RDKit's layout work, a CSV page tens of milliseconds of
/// JSON), and sending them.
/// Each hands on over a channel of two, so memory stays a few pages
/// whatever the run's size, and a client that stops reading stops the
/// reading (the channels close and the stages end).
pub fn stream(
    pool: PgPool,
    run_pk: i64,
    format: ExportFormat,
    order: ResultOrder,
    columns: Vec<Column>,
    profile: Profile,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    let layout = Arc::new(Layout::new(columns));
    let profile = Arc::new(profile);
    let (rows_tx, mut rows_rx) = tokio::sync::mpsc::channel::<Vec<CompoundRow>>(2);
    let (bytes_tx, bytes_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    if format == ExportFormat::Csv {
        let mut out = Vec::new();
        let mut writer = csv_writer(&mut out);
        writer.write_record(layout.names()).expect("writing to memory cannot fail");
        writer.flush().expect("writing to memory cannot fail");
        drop(writer);
        let _ = bytes_tx.try_send(Ok(Bytes::from(out)));
    }
    let failed = bytes_tx.clone();
    tokio::spawn(async move {
        let pages = match store::export_pages(&pool, run_pk, order, PAGE).await {
            Ok(pages) => pages,
            Err(e) => {
                tracing::warn!(error = %e, run_pk, "export stopped: reading results failed");
                let _ = failed.send(Err(std::io::Error::other(e))).await;
                return;
            }
        };
        // In order, PAGES_AT_ONCE queries in flight.
        let mut read = futures::stream::iter(pages).map(|page| store::export_page(&pool, run_pk, page)).buffered(PAGES_AT_ONCE);
        while let Some(page) = read.next().await {
            match page {
                Ok(rows) if rows.is_empty() => {}
                Ok(rows) => {
                    if rows_tx.send(rows).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    // Headers are sent: all that is left is to cut the
                    // response short, which the client sees as an error.
                    tracing::warn!(error = %e, run_pk, "export stopped: reading results failed");
                    let _ = failed.send(Err(std::io::Error::other(e))).await;
                    return;
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(rows) = rows_rx.recv().await {
            let (layout, profile) = (layout.clone(), profile.clone());
            let Ok(bytes) = tokio::task::spawn_blocking(move || render(format, &rows, &layout, &profile)).await else { return };
            if bytes_tx.send(Ok(Bytes::from(bytes))).await.is_err() {
                return;
            }
        }
    });
    futures::stream::unfold(bytes_rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}
