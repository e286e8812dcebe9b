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
/// its column as it is met (no map of it is built per row). ADMET's numbers
/// and model are read from the arrays stored beside the section instead,
/// when the row has them.
pub struct Layout {
    columns: Vec<Column>,
    sections: Vec<SectionLayout>,
}

struct SectionLayout {
    section: Section,
    /// Each key's column, as read from the section's JSON.
    keys: HashMap<String, usize>,
    /// ADMET's keys stored apart: (column, position in `admet_values`), and
    /// the model's column.
    values: Vec<(usize, usize)>,
    model: Option<usize>,
    /// The keys that are not (read from the JSON even when the row has the
    /// arrays).
    rest: HashMap<String, usize>,
}

const ADMET: Section = Section::Result(pharmforge_core::Section::Admet);

impl Layout {
    pub fn new(columns: Vec<Column>) -> Self {
        let mut sections: Vec<SectionLayout> = Vec::new();
        for (at, c) in columns.iter().enumerate() {
            let Field::Key(section, key) = &c.field else { continue };
            let i = match sections.iter().position(|s| s.section == *section) {
                Some(i) => i,
                None => {
                    let fresh = SectionLayout { section: *section, keys: HashMap::new(), values: Vec::new(), model: None, rest: HashMap::new() };
                    sections.push(fresh);
                    sections.len() - 1
                }
            };
            let s = &mut sections[i];
            s.keys.insert(key.clone(), at);
            match pharmforge_core::profile::admet_value_position(key).filter(|_| *section == ADMET) {
                Some(position) => s.values.push((at, position)),
                None if *section == ADMET && key == "model" => s.model = Some(at),
                None => {
                    s.rest.insert(key.clone(), at);
                }
            }
        }
        Layout { columns, sections }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// Whether rows must carry the ADMET section's JSON for this layout (a
    /// key of it that is not stored apart; JSON lines need it whole).
    pub fn needs_admet_json(&self, format: ExportFormat) -> bool {
        format == ExportFormat::Jsonl || self.sections.iter().any(|s| s.section == ADMET && !s.rest.is_empty())
    }
}

/// A section's entries put in their columns: a visitor over its JSON
/// object, which goes into the objects the section flattens
/// ([`Section::nested`]).
struct Fill<'l, 'c, 'r> {
    keys: &'l HashMap<String, usize>,
    nested: &'static [&'static str],
    cells: &'c mut [Cell<'r>],
}

/// A key of a section: the column it goes to, or the object to go into.
enum Key {
    Column(usize),
    Nested,
    Other,
}

struct KeySeed<'l>(&'l HashMap<String, usize>, &'static [&'static str]);

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match self.0.get(key) {
            Some(at) => Key::Column(*at),
            None if self.1.contains(&key) => Key::Nested,
            None => Key::Other,
        })
    }
}

impl<'de: 'r, 'r> serde::de::Visitor<'de> for Fill<'_, '_, 'r> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(self.keys, self.nested))? {
            match key {
                Key::Column(at) => self.cells[at] = Cell::Text(cell(map.next_value::<&'de RawValue>()?)),
                Key::Nested => {
                    let inner = map.next_value::<&'de RawValue>()?;
                    if inner.get().starts_with('{') {
                        let mut de = serde_json::Deserializer::from_str(inner.get());
                        let fill = Fill { keys: self.keys, nested: &[], cells: &mut *self.cells };
                        let _ = serde::Deserializer::deserialize_map(&mut de, fill);
                    }
                }
                Key::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A cell of a row: text (the row's own, or a JSON value's), or a number
/// written as the row is (no text is made for it alone).
#[derive(Debug, Default, Clone, PartialEq)]
enum Cell<'r> {
    #[default]
    Empty,
    Text(Cow<'r, str>),
    Integer(i64),
    /// As JSON writes it (shortest text that reads back the same).
    Float(f64),
    /// A stored number: a whole one without a fraction (`3`, as the
    /// section's JSON writes a count), any other as [`Cell::Float`].
    Value(f64),
}

impl Cell<'_> {
    /// Its text; numbers are formatted in `buffer`.
    fn text<'a>(&'a self, buffer: &'a mut NumberBuffer) -> &'a str {
        match self {
            Cell::Empty => "",
            Cell::Text(t) => t,
            Cell::Integer(i) => buffer.integer.format(*i),
            Cell::Value(x) if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 => buffer.integer.format(*x as i64),
            Cell::Float(x) | Cell::Value(x) if x.is_finite() => buffer.float.format_finite(*x),
            Cell::Float(_) | Cell::Value(_) => "",
        }
    }
}

#[derive(Default)]
struct NumberBuffer {
    integer: itoa::Buffer,
    float: zmij::Buffer,
}

/// A row's cells, one per column.
fn cells<'r>(row: &'r CompoundRow, layout: &Layout) -> Vec<Cell<'r>> {
    let text = |t: &'r str| Cell::Text(Cow::Borrowed(t));
    let mut cells: Vec<Cell<'r>> = layout
        .columns
        .iter()
        .map(|c| match &c.field {
            Field::Id => row.given_id.as_deref().map(text).unwrap_or_default(),
            Field::Index => Cell::Integer(row.idx.into()),
            Field::CompoundId => text(&row.compound_id),
            Field::Smiles => text(&row.smiles),
            Field::Status => text(&row.status),
            Field::FinalScore => row.final_score.map(Cell::Float).unwrap_or_default(),
            Field::Rank => row.rank.map(|r| Cell::Integer(r.into())).unwrap_or_default(),
            Field::ParetoFront => row.pareto_front.map(|r| Cell::Integer(r.into())).unwrap_or_default(),
            Field::Key(..) => Cell::Empty,
        })
        .collect();
    for s in &layout.sections {
        let mut keys = &s.keys;
        if let (true, Some(values)) = (s.section == ADMET, &row.admet_values) {
            for &(at, position) in &s.values {
                cells[at] = values.get(position).copied().flatten().map(Cell::Value).unwrap_or_default();
            }
            if let Some(at) = s.model {
                cells[at] = row.admet_model.as_deref().map(text).unwrap_or_default();
            }
            keys = &s.rest;
        }
        if let Some(raw) = s.section.of(row).filter(|_| !keys.is_empty()) {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            // Anything but an object (or unreadable) leaves its cells empty.
            let _ = serde::Deserializer::deserialize_map(&mut de, Fill { keys, nested: s.section.nested(), cells: &mut cells });
        }
    }
    cells
}

/// Appends a CSV field (RFC 4180): quoted, its quotes doubled, when it
/// holds a comma, a quote or a line break, or when it is the one field of
/// its record and empty (`""`, not a blank line), as the csv crate writes
/// them.
fn csv_field(out: &mut Vec<u8>, field: &str, alone: bool) {
    if field.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) || (alone && field.is_empty()) {
        out.push(b'"');
        for part in field.split_inclusive('"') {
            out.extend_from_slice(part.as_bytes());
            if part.ends_with('"') {
                out.push(b'"');
            }
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field.as_bytes());
    }
}

/// Appends a CSV record, `\n`-terminated. Numbers are formatted straight
/// into it (they never need quotes).
fn csv_record(out: &mut Vec<u8>, cells: &[Cell<'_>]) {
    let mut buffer = NumberBuffer::default();
    for (at, cell) in cells.iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        match cell {
            Cell::Text(_) | Cell::Empty => csv_field(out, cell.text(&mut buffer), cells.len() == 1),
            number => out.extend_from_slice(number.text(&mut buffer).as_bytes()),
        }
    }
    out.push(b'\n');
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
            for row in rows {
                csv_record(&mut out, &cells(row, layout));
            }
        }
        ExportFormat::Sdf => {
            for row in rows {
                let cells = cells(row, layout);
                let mut buffer = NumberBuffer::default();
                let texts: Vec<String> = cells.iter().map(|c| c.text(&mut buffer).to_owned()).collect();
                let data: Vec<(&str, &str)> = layout
                    .columns
                    .iter()
                    .zip(&texts)
                    .filter(|(c, v)| !v.is_empty() && c.field != Field::Smiles)
                    .map(|(c, v)| (c.name.as_str(), v.as_str()))
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
    let admet_json = layout.needs_admet_json(format);
    let profile = Arc::new(profile);
    let (rows_tx, mut rows_rx) = tokio::sync::mpsc::channel::<Vec<CompoundRow>>(2);
    let (bytes_tx, bytes_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    if format == ExportFormat::Csv {
        let mut out = Vec::new();
        let names: Vec<Cell> = layout.names().map(|n| Cell::Text(Cow::Borrowed(n))).collect();
        csv_record(&mut out, &names);
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
        let mut read = futures::stream::iter(pages).map(|page| store::export_page(&pool, run_pk, page, admet_json)).buffered(PAGES_AT_ONCE);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The CSV written by hand is the csv crate's, byte for byte.
    #[test]
    fn csv_records_are_written_as_the_csv_crate_writes_them() {
        let records: [&[&str]; 6] =
            [&["id", "a,b", "say \"hi\"", "line\nbreak", "cr\r", ""], &[""], &["", ""], &["\"", "\"\"", "plain"], &["ünïcode, too", "x"], &["only"]];
        for record in records {
            let mut want = Vec::new();
            {
                let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(&mut want);
                w.write_record(record).unwrap();
                w.flush().unwrap();
            }
            let mut got = Vec::new();
            let cells: Vec<Cell> = record.iter().map(|t| Cell::Text(Cow::Borrowed(*t))).collect();
            csv_record(&mut got, &cells);
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap(), "{record:?}");
        }
    }

    #[test]
    fn numbers_are_written_as_json_writes_them_and_counts_without_a_fraction() {
        let mut out = Vec::new();
        csv_record(
            &mut out,
            &[Cell::Value(2.0), Cell::Value(0.1), Cell::Value(-1e-7), Cell::Float(2.0), Cell::Float(0.30000000000000004), Cell::Integer(-3), Cell::Empty],
        );
        assert_eq!(String::from_utf8(out).unwrap(), "2,0.1,-1e-7,2.0,0.30000000000000004,-3,\n");
        let json = serde_json::to_string(&serde_json::json!([0.1, -1e-7, 2.0, 123456.789])).unwrap();
        assert_eq!(json, "[0.1,-1e-7,2.0,123456.789]");
    }
}
