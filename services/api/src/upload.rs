//! A run's compounds from a file: CSV (or TSV), SD or SMILES, optionally
//! gzipped, read as a stream.
//!
//! The file is parsed on a blocking thread as its bytes arrive, and handed on
//! in batches that are written to Postgres while the rest is still coming, so
//! a file of any size needs a few batches of memory. A file that is wrong
//! (no SMILES column, a broken quote, a compound too many) is refused with
//! the line or record where it went wrong; a record whose molecule cannot be
//! read (an SD record RDKit refuses, an empty SMILES cell) is not the file's
//! fault: it becomes a compound that fails with why, so one bad entry never
//! costs the other 99,999.

use crate::error::ApiError;
use crate::validate::{id_problem, smiles_problem};
use crate::Limits;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use pharmforge_store::InputCompound;
use serde_json::{Map, Value};
use std::io::{self, BufRead, Read};
use std::time::Duration;

/// Compounds per batch handed to the database.
pub const BATCH: usize = 2_000;

/// The largest line of a SMILES file, and the largest SD record.
const MAX_LINE_BYTES: usize = 1 << 20;
const MAX_RECORD_BYTES: usize = 8 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma- (or, for TSV, tab-) separated values with a header row.
    Csv {
        delimiter: u8,
    },
    Sdf,
    Smi,
}

impl Format {
    /// The format a media type names (`text/csv`, `chemical/x-mdl-sdfile`, ...).
    pub fn from_media_type(media_type: &str) -> Option<Format> {
        match media_type.to_ascii_lowercase().as_str() {
            "text/csv" | "application/csv" => Some(Format::Csv { delimiter: b',' }),
            "text/tab-separated-values" => Some(Format::Csv { delimiter: b'\t' }),
            "chemical/x-mdl-sdfile" | "chemical/x-mdl-molfile" => Some(Format::Sdf),
            "chemical/x-daylight-smiles" => Some(Format::Smi),
            _ => None,
        }
    }

    /// The format a file name's extension names (a `.gz` after it is the
    /// compression, not the format).
    pub fn from_file_name(name: &str) -> Option<Format> {
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        match name.rsplit_once('.').map(|(_, ext)| ext)? {
            "csv" => Some(Format::Csv { delimiter: b',' }),
            "tsv" => Some(Format::Csv { delimiter: b'\t' }),
            "sdf" | "sd" | "mol" => Some(Format::Sdf),
            "smi" | "smiles" | "ism" | "can" => Some(Format::Smi),
            _ => None,
        }
    }

    /// `csv`, `sdf`, `smi` (the `format=` option's values).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::from_file_name(&format!("x.{name}"))
    }

    pub fn is_gzip_name(name: &str) -> bool {
        name.to_ascii_lowercase().ends_with(".gz")
    }
}

/// How to read a file's compounds out of it.
#[derive(Debug, Clone)]
pub struct FileOptions {
    pub format: Format,
    pub gzip: bool,
    /// CSV: the SMILES column's name (default: `smiles`, `SMILES` or `canonical_smiles`).
    pub smiles_column: Option<String>,
    /// CSV: the ID column's name (default: `id`, `ID`, `name` or `Name`, if there is one).
    pub id_column: Option<String>,
    /// SD: the data item holding the ID (default: the title line).
    pub id_property: Option<String>,
}

/// Why reading stopped before the end of the file.
#[derive(Debug)]
pub enum FileError {
    /// The file is wrong: where, and what.
    Invalid(String),
    /// More compounds than a run may have.
    TooManyCompounds(usize),
    /// The transfer itself failed (too large, too slow, cut off).
    Transfer(ApiError),
    /// The receiving side has gone (the database write failed): nothing to say.
    Abandoned,
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> ApiError {
        match e {
            FileError::Invalid(message) => ApiError::validation("file", message),
            FileError::TooManyCompounds(max) => ApiError::validation("file", format!("the file holds more than {max} compounds; the limit is {max} per run")),
            FileError::Transfer(e) => e,
            FileError::Abandoned => ApiError::Unavailable("the upload could not be stored; retry shortly".into()),
        }
    }
}

/// An I/O error that carries why the transfer was stopped, so that the
/// parser's error can be turned back into the right answer (413, 408).
#[derive(Debug)]
enum TransferStop {
    TooLarge(u64),
    Idle(Duration),
}

impl std::fmt::Display for TransferStop {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            TransferStop::TooLarge(max) => write!(f, "the upload is larger than the limit of {max} bytes"),
            TransferStop::Idle(idle) => write!(f, "no part of the upload arrived for {} s", idle.as_secs_f64()),
        }
    }
}

impl std::error::Error for TransferStop {}

fn transfer_error(e: io::Error, what: &str) -> FileError {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<TransferStop>()) {
        Some(TransferStop::TooLarge(max)) => FileError::Transfer(ApiError::PayloadTooLarge(*max as usize)),
        Some(stop @ TransferStop::Idle(_)) => FileError::Transfer(ApiError::RequestTimeout(stop.to_string())),
        None if e.kind() == io::ErrorKind::InvalidData => FileError::Invalid(format!("{what}: {e}")),
        None => FileError::Transfer(ApiError::BadRequest(format!("the upload was cut off: {e}"))),
    }
}

/// The body's bytes as they arrive, each within `idle` of the last, at most
/// `max_bytes` in all.
pub fn guarded<S, E>(body: S, idle: Duration, max_bytes: u64) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    futures::stream::unfold(Some((body, 0u64)), move |state| async move {
        let (mut body, seen) = state?;
        let stop = |why| Some((Err(io::Error::other(why)), None));
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => stop(TransferStop::Idle(idle)),
            Ok(None) => None,
            Ok(Some(Err(e))) => Some((Err(io::Error::other(e.to_string())), None)),
            Ok(Some(Ok(chunk))) => {
                let seen = seen + chunk.len() as u64;
                if seen > max_bytes {
                    return stop(TransferStop::TooLarge(max_bytes));
                }
                Some((Ok(chunk), Some((body, seen))))
            }
        }
    })
}

/// At most `max` bytes of `inner` (a decompressed stream: a small gzip
/// file can inflate to anything).
struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(io::Error::other(TransferStop::TooLarge(self.max)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads the compounds of a file from `raw` (its bytes as sent), handing
/// them to `emit` in batches of `BATCH`; `emit` returns false when the
/// receiving side has gone. Returns how many compounds there were.
pub fn read_compounds(raw: impl Read, options: &FileOptions, limits: &Limits, emit: &mut dyn FnMut(Vec<InputCompound>) -> bool) -> Result<usize, FileError> {
    let reader: Box<dyn Read> = match options.gzip {
        true => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        false => Box::new(raw),
    };
    let reader = io::BufReader::with_capacity(64 * 1024, Capped { inner: reader, left: limits.max_upload_bytes, max: limits.max_upload_bytes });
    let mut sink = Sink { batch: Vec::with_capacity(BATCH), count: 0, max: limits.max_compounds, emit };
    match options.format {
        Format::Csv { delimiter } => read_csv(reader, delimiter, options, limits, &mut sink)?,
        Format::Smi => read_smi(reader, limits, &mut sink)?,
        Format::Sdf => read_sdf(reader, options, limits, &mut sink)?,
    }
    sink.flush()?;
    Ok(sink.count)
}

/// Collects compounds into batches and hands each on when full.
struct Sink<'a> {
    batch: Vec<InputCompound>,
    count: usize,
    max: usize,
    emit: &'a mut dyn FnMut(Vec<InputCompound>) -> bool,
}

impl Sink<'_> {
    fn push(&mut self, compound: InputCompound) -> Result<(), FileError> {
        if self.count == self.max {
            return Err(FileError::TooManyCompounds(self.max));
        }
        self.count += 1;
        self.batch.push(compound);
        if self.batch.len() == BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), FileError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if (self.emit)(batch) {
            Ok(())
        } else {
            Err(FileError::Abandoned)
        }
    }
}

/// A compound from a file entry: its SMILES checked as the JSON path checks
/// them, but a bad one is the compound's error (`where_`: "line 12"), not
/// the file's.
fn compound(smiles: &str, given_id: Option<String>, properties: Option<Map<String, Value>>, where_: &str, limits: &Limits) -> InputCompound {
    let smiles = smiles.trim();
    let input_error = smiles_problem(smiles, limits).map(|problem| format!("{where_}: the SMILES {problem}"));
    InputCompound { smiles: if input_error.is_some() { String::new() } else { smiles.to_owned() }, given_id, properties, input_error }
}

/// A compound ID from a file: empty means none; one that cannot be stored
/// is the file's mistake, with where it is.
fn given_id(raw: &str, where_: &str) -> Result<Option<String>, FileError> {
    let id = raw.trim();
    if id.is_empty() {
        return Ok(None);
    }
    match id_problem(id) {
        Some(problem) => Err(FileError::Invalid(format!("{where_}: the ID {problem}"))),
        None => Ok(Some(id.to_owned())),
    }
}

/// Postgres text cannot hold U+0000; no chemistry file has a reason to.
fn no_nul(text: &str, where_: &str) -> Result<(), FileError> {
    match text.contains('\0') {
        true => Err(FileError::Invalid(format!("{where_}: contains the character U+0000"))),
        false => Ok(()),
    }
}

/// The column named `wanted`, or else the first column whose name is one
/// of `defaults` (case-insensitively).
fn find_column(header: &csv::StringRecord, wanted: Option<&str>, defaults: &[&str]) -> Option<usize> {
    match wanted {
        Some(name) => header.iter().position(|h| h.trim() == name),
        None => defaults.iter().find_map(|d| header.iter().position(|h| h.trim().eq_ignore_ascii_case(d))),
    }
}

fn read_csv(reader: impl BufRead, delimiter: u8, options: &FileOptions, limits: &Limits, sink: &mut Sink) -> Result<(), FileError> {
    let mut csv = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).flexible(false).from_reader(reader);
    let csv_error = |e: csv::Error| -> FileError {
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        match e.into_kind() {
            csv::ErrorKind::Io(io) => transfer_error(io, &format!("line {line}")),
            csv::ErrorKind::Utf8 { .. } => FileError::Invalid(format!("line {line}: not valid UTF-8 text")),
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                FileError::Invalid(format!("line {line}: {len} fields where the header has {expected_len}"))
            }
            other => FileError::Invalid(format!("line {line}: {other:?}")),
        }
    };
    let header = csv.headers().map_err(csv_error)?.clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(FileError::Invalid("line 1: the file is empty; a CSV file starts with a header row naming its columns".into()));
    }
    no_nul(header.as_slice(), "line 1")?;
    let columns = || header.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
    let smiles_at = find_column(&header, options.smiles_column.as_deref(), &["smiles", "canonical_smiles"]).ok_or_else(|| {
        FileError::Invalid(match &options.smiles_column {
            Some(name) => format!("line 1: no column named {name:?} (smiles_column); the header has {}", columns()),
            None => {
                format!("line 1: no SMILES column; name it smiles, SMILES or canonical_smiles, or say which with smiles_column=; the header has {}", columns())
            }
        })
    })?;
    let id_at = find_column(&header, options.id_column.as_deref(), &["id", "name"]);
    if let (Some(name), None) = (&options.id_column, id_at) {
        return Err(FileError::Invalid(format!("line 1: no column named {name:?} (id_column); the header has {}", columns())));
    }
    let mut record = csv::StringRecord::new();
    while csv.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let where_ = format!("line {line}");
        no_nul(record.as_slice(), &where_)?;
        let id = match id_at {
            Some(i) => given_id(&record[i], &where_)?,
            None => None,
        };
        // The other columns are the user's data about the compound: kept, and
        // returned with its result.
        let properties: Map<String, Value> = header
            .iter()
            .zip(record.iter())
            .enumerate()
            .filter(|(i, (_, v))| *i != smiles_at && Some(*i) != id_at && !v.is_empty())
            .map(|(_, (k, v))| (k.trim().to_owned(), Value::from(v)))
            .collect();
        let properties = (!properties.is_empty()).then_some(properties);
        sink.push(compound(&record[smiles_at], id, properties, &where_, limits))?;
    }
    Ok(())
}

/// Reads lines of at most `MAX_LINE_BYTES` (`what` names them in errors).
fn next_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, line: usize, what: &str) -> Result<bool, FileError> {
    buf.clear();
    let n = Read::take(&mut *reader, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', buf).map_err(|e| transfer_error(e, &format!("line {line}")))?;
    if buf.len() > MAX_LINE_BYTES {
        return Err(FileError::Invalid(format!("line {line}: longer than {MAX_LINE_BYTES} bytes; is this {what}?")));
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(n > 0)
}

fn utf8<'b>(buf: &'b [u8], where_: &str) -> Result<&'b str, FileError> {
    let text = std::str::from_utf8(buf).map_err(|_| FileError::Invalid(format!("{where_}: not valid UTF-8 text")))?;
    no_nul(text, where_)?;
    Ok(text)
}

/// A SMILES file: one compound a line, `SMILES [ID]` (everything after the
/// first space or tab is the ID, as Daylight's format has it). Blank lines
/// and `#` comments are skipped, and so is a first line that is a header
/// (`smiles ...`).
fn read_smi(mut reader: impl BufRead, limits: &Limits, sink: &mut Sink) -> Result<(), FileError> {
    let mut buf = Vec::new();
    let mut line = 0;
    let mut first = true;
    while next_line(&mut reader, &mut buf, line + 1, "a SMILES file")? {
        line += 1;
        let where_ = format!("line {line}");
        let mut text = utf8(&buf, &where_)?;
        if line == 1 {
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (smiles, rest) = text.split_once([' ', '\t']).unwrap_or((text, ""));
        if std::mem::take(&mut first) && smiles.eq_ignore_ascii_case("smiles") {
            continue;
        }
        sink.push(compound(smiles, given_id(rest, &where_)?, None, &where_, limits))?;
    }
    Ok(())
}

/// An SD file: records up to each `$$$$` line, each read by RDKit (through
/// the bridge); its title line (or the `id_property` data item) is its ID,
/// its data items are kept as its input properties.
fn read_sdf(mut reader: impl BufRead, options: &FileOptions, limits: &Limits, sink: &mut Sink) -> Result<(), FileError> {
    let mut buf = Vec::new();
    let mut record = String::new();
    let (mut line, mut number, mut starts_at) = (0, 0, 1);
    loop {
        let more = next_line(&mut reader, &mut buf, line + 1, "an SD file")?;
        if more {
            line += 1;
        }
        let end = !more || buf.starts_with(b"$$$$");
        if !end {
            let text = utf8(&buf, &format!("line {line}"))?;
            let text = if line == 1 { text.strip_prefix('\u{feff}').unwrap_or(text) } else { text };
            if record.len() + text.len() > MAX_RECORD_BYTES {
                return Err(FileError::Invalid(format!("record {} (from line {starts_at}): larger than {MAX_RECORD_BYTES} bytes", number + 1)));
            }
            record.push_str(text);
            record.push('\n');
            continue;
        }
        // A file may end without a last `$$$$`, or with blank lines after it.
        if more || !record.trim().is_empty() {
            number += 1;
            sink.push(sd_compound(&record, number, starts_at, options, limits)?)?;
        }
        if !more {
            return Ok(());
        }
        record.clear();
        starts_at = line + 1;
    }
}

fn sd_compound(record: &str, number: usize, starts_at: usize, options: &FileOptions, limits: &Limits) -> Result<InputCompound, FileError> {
    let where_ = format!("record {number} (line {starts_at})");
    let read = pharmforge_chem::read_sd_record(record);
    let id = match &options.id_property {
        Some(name) => read.properties.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or(""),
        None => read.title.as_str(),
    };
    let id = given_id(id, &where_)?;
    let properties: Map<String, Value> = read.properties.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
    let properties = (!properties.is_empty()).then_some(properties);
    Ok(match read.smiles {
        Some(smiles) => compound(&smiles, id, properties, &where_, limits),
        None => InputCompound {
            smiles: String::new(),
            given_id: id,
            properties,
            input_error: Some(format!("{where_}: RDKit cannot read the molecule: {}", read.error.as_deref().unwrap_or("no molecule"))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_body_bytes: 1 << 20,
            max_compounds: 5,
            max_smiles_length: 50,
            inline_results: 10,
            max_in_flight: 8,
            runs_per_minute: 60,
            runs_burst: 10,
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            max_upload_bytes: 4096,
            max_uploads: 1,
        }
    }

    fn options(format: Format) -> FileOptions {
        FileOptions { format, gzip: false, smiles_column: None, id_column: None, id_property: None }
    }

    fn read(bytes: &[u8], options: &FileOptions) -> Result<Vec<InputCompound>, String> {
        let mut all = Vec::new();
        read_compounds(bytes, options, &limits(), &mut |batch| {
            all.extend(batch);
            true
        })
        .map_err(|e| ApiError::from(e).to_string())?;
        Ok(all)
    }

    fn ids_and_smiles(compounds: &[InputCompound]) -> Vec<(Option<&str>, &str)> {
        compounds.iter().map(|c| (c.given_id.as_deref(), c.smiles.as_str())).collect()
    }

    #[test]
    fn a_csv_finds_its_columns_by_name_and_keeps_the_others() {
        let csv = "\u{feff}Name,pIC50,SMILES\nethanol,5.1,CCO\n\"acetic, acid\",,CC(=O)O\n";
        let got = read(csv.as_bytes(), &options(Format::Csv { delimiter: b',' })).unwrap();
        assert_eq!(ids_and_smiles(&got), vec![(Some("ethanol"), "CCO"), (Some("acetic, acid"), "CC(=O)O")]);
        assert_eq!(got[0].properties.as_ref().unwrap()["pIC50"], "5.1");
        assert!(got[1].properties.is_none(), "empty cells are not kept");
        let chosen = FileOptions { smiles_column: Some("structure".into()), id_column: Some("code".into()), ..options(Format::Csv { delimiter: b'\t' }) };
        let got = read(b"code\tstructure\nX1\tc1ccccc1\n", &chosen).unwrap();
        assert_eq!(ids_and_smiles(&got), vec![(Some("X1"), "c1ccccc1")]);
    }

    #[test]
    fn a_bad_csv_is_refused_with_its_line() {
        let csv = options(Format::Csv { delimiter: b',' });
        assert!(read(b"id,name\n1,x\n", &csv).unwrap_err().starts_with("line 1: no SMILES column; name it smiles"));
        assert_eq!(read(b"smiles,id\nCCO,1\nCCN\n", &csv).unwrap_err(), "line 3: 1 fields where the header has 2");
        assert_eq!(read(b"smiles\nCCO\n\xff\n", &csv).unwrap_err(), "line 3: not valid UTF-8 text");
        let named = FileOptions { id_column: Some("code".into()), ..csv.clone() };
        assert!(read(b"smiles\nC\n", &named).unwrap_err().starts_with("line 1: no column named \"code\" (id_column)"));
        assert_eq!(read(b"smiles\nC\nC\nC\nC\nC\nC\n", &csv).unwrap_err(), "the file holds more than 5 compounds; the limit is 5 per run");
        assert!(read(b"smiles,id\nC,a\x00b\n", &csv).unwrap_err().contains("line 2: contains the character U+0000"));
    }

    #[test]
    fn an_empty_smiles_cell_is_that_compounds_error_not_the_files() {
        let got = read(b"smiles,id\n,A\nCCO,B\n", &options(Format::Csv { delimiter: b',' })).unwrap();
        assert_eq!(got[0].input_error.as_deref(), Some("line 2: the SMILES is empty"));
        assert_eq!(got[0].given_id.as_deref(), Some("A"));
        assert_eq!((got[1].smiles.as_str(), got[1].input_error.as_ref()), ("CCO", None));
    }

    #[test]
    fn a_smiles_file_has_an_optional_id_after_the_first_space() {
        let smi = b"SMILES Name\n# a comment\nCCO ethanol\n\nc1ccccc1\tbenzene ring\r\nN\n";
        let got = read(smi, &options(Format::Smi)).unwrap();
        assert_eq!(ids_and_smiles(&got), vec![(Some("ethanol"), "CCO"), (Some("benzene ring"), "c1ccccc1"), (None, "N")]);
        let long = format!("{} x\n", "C".repeat(51));
        assert_eq!(read(long.as_bytes(), &options(Format::Smi)).unwrap()[0].input_error.as_deref(), Some("line 1: the SMILES is longer than 50 characters"));
    }

    #[test]
    fn a_gzipped_file_is_read_and_its_inflated_size_is_bounded() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"CCO a\nCCN b\n").unwrap();
        let zipped = gz.finish().unwrap();
        let got = read(&zipped, &FileOptions { gzip: true, ..options(Format::Smi) }).unwrap();
        assert_eq!(ids_and_smiles(&got), vec![(Some("a"), "CCO"), (Some("b"), "CCN")]);
        // 1 MB of blank lines inflates past the 4 kB limit.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'\n'; 1 << 20]).unwrap();
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 4096);
        assert_eq!(read(&bomb, &FileOptions { gzip: true, ..options(Format::Smi) }).unwrap_err(), "request body larger than the limit of 4096 bytes");
    }

    #[test]
    fn an_sd_file_gives_each_record_its_title_and_data_and_a_bad_molecule_its_own_error() {
        let ethanol = "ethanol\n  test\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0\n    1.2990    0.7500    0.0000 C   0  0\n    2.5981   -0.0000    0.0000 O   0  0\n  1  2  1  0\n  2  3  1  0\nM  END\n> <pIC50>\n6.2\n\n> <note>\nline one\nline two\n\n$$$$\n";
        let pentavalent = "bad carbon\n  test\n\n  6  5  0  0  0  0  0  0  0  0999 V2000\n    0.0000    0.0000    0.0000 C   0  0\n    1.0000    0.0000    0.0000 C   0  0\n   -1.0000    0.0000    0.0000 C   0  0\n    0.0000    1.0000    0.0000 C   0  0\n    0.0000   -1.0000    0.0000 C   0  0\n    0.5000    0.5000    0.0000 C   0  0\n  1  2  1  0\n  1  3  1  0\n  1  4  1  0\n  1  5  1  0\n  1  6  1  0\nM  END\n> <pIC50>\n4.0\n\n$$$$\n";
        let file = format!("{ethanol}{pentavalent}");
        let got = read(file.as_bytes(), &options(Format::Sdf)).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].given_id.as_deref(), got[0].smiles.as_str(), got[0].input_error.as_ref()), (Some("ethanol"), "CCO", None));
        assert_eq!(got[0].properties.as_ref().unwrap()["note"], "line one\nline two");
        assert_eq!(got[1].given_id.as_deref(), Some("bad carbon"));
        assert_eq!(got[1].properties.as_ref().unwrap()["pIC50"], "4.0");
        let error = got[1].input_error.as_deref().unwrap();
        assert!(error.starts_with("record 2 (line 19): RDKit cannot read the molecule: "), "{error}");
        let by_property = FileOptions { id_property: Some("pIC50".into()), ..options(Format::Sdf) };
        assert_eq!(read(ethanol.trim_end_matches("$$$$\n").as_bytes(), &by_property).unwrap()[0].given_id.as_deref(), Some("6.2"));
    }

    #[test]
    fn formats_come_from_media_types_and_file_names() {
        assert_eq!(Format::from_media_type("chemical/x-mdl-sdfile"), Some(Format::Sdf));
        assert_eq!(Format::from_media_type("text/csv"), Some(Format::Csv { delimiter: b',' }));
        assert_eq!(Format::from_file_name("library.SDF.gz"), Some(Format::Sdf));
        assert_eq!(Format::from_file_name("hits.smi"), Some(Format::Smi));
        assert!(Format::is_gzip_name("a.csv.gz"));
        assert_eq!(Format::from_file_name("notes.txt"), None);
        assert_eq!(Format::from_name("tsv"), Some(Format::Csv { delimiter: b'\t' }));
    }
}
