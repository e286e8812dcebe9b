//! SD files: reading one record ([`read_sd_record`]), writing one with 2D
//! coordinates ([`sd_record_2d`]), and cutting a file into records
//! ([`sd_records`]).
//!
//! Why the title and data items are handled here in Rust: an uploaded record
//! must keep its title and data even when RDKit cannot read its molecule (the
//! user gets the row back with the reason), and RDKit's SD reader drops the
//! whole record then. So the molblock alone goes to RDKit's molblock reader
//! with SDMolSupplier's defaults, and the data items are read here, rule for
//! rule as RDKit's reader reads them (`ForwardSDMolSupplier::readMolProps`);
//! tests hold both halves against SDMolSupplier and SDWriter themselves.

use crate::{ffi, ChemError, Molecule};

/// Header line 2 of every molblock [`sd_record_2d`] writes: what RDKit
/// 2022.09 writes by default (two blank initials, program `   RDKit`, a blank
/// date and time, `2D`), set explicitly so that neither an RDKit release nor
/// anything else puts a timestamp there: exporting a finished run gives the
/// same bytes every time.
pub const MOLBLOCK_HEADER_LINE: &str = "     RDKit          2D";

/// One record of an SD file, as RDKit's SD reader reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdRecord {
    /// Canonical SMILES of the record's molecule; None when RDKit cannot read it.
    pub smiles: Option<String>,
    /// Why RDKit could not read it (one line, human-readable), when smiles is None.
    pub error: Option<String>,
    /// The title line (first line of the molblock), trimmed.
    pub title: String,
    /// The record's SD data items (`> <name>` ... value lines), in file
    /// order; a multi-line value keeps its '\n's.
    pub properties: Vec<(String, String)>,
}

/// Reads one SD record: the text of one record, from its first line up to
/// (not including) the `$$$$` line (a `$$$$` line, if there is one anyway,
/// ends the record). `\r\n` line ends are read like `\n`.
///
/// Never fails: a record RDKit cannot read gives `smiles` None with RDKit's
/// message in `error` (e.g. `Explicit valence for atom # 1 N, 4, is greater
/// than permitted`), and still its title and properties.
///
/// The molecule is the molblock up to its `M  END` line, read by
/// `MolBlockToMol` as SDMolSupplier reads it (sanitized, Hs removed, strict),
/// within the limits of [`Molecule::from_smiles`]: at most
/// [`MAX_ATOMS`](crate::MAX_ATOMS) atoms, at least one.
///
/// The data items that follow are read as RDKit reads them: a header line
/// starts with `>` and names the item between its first `<` and the next
/// `>`; the value is every following line up to the first empty one (a line
/// of spaces or tabs is part of the value), each line's trailing `\r` removed.
/// Where RDKit 2022.09 loses data, nothing more than the odd part is dropped
/// here: an item without a name is skipped (RDKit reads on to the end of the
/// file, losing every later item), and text between items is skipped (RDKit's
/// strict reader refuses the whole record).
///
/// Cost: a few hundred microseconds for a drug-like molecule; RDKit's stereo
/// perception makes it about a second for a 999-atom chain.
pub fn read_sd_record(record: &str) -> SdRecord {
    let lines = Lines::new(record);
    let title = lines.iter().next().map(|l| l.text.trim()).unwrap_or_default().to_owned();
    // The header is three lines and the counts line follows, so `M  END`
    // cannot come before the fifth line.
    let m_end = lines.iter().skip(4).find(|l| l.text.starts_with("M  END"));
    let (molblock, data) = match m_end {
        Some(l) => (&record[..l.next], &record[l.next..lines.end]),
        None => (&record[..lines.end], ""),
    };
    let properties = data_items(data);
    let (smiles, error) = match Molecule::from_molblock(molblock) {
        Ok(m) => match m.try_canonical_smiles() {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(message(e))),
        },
        Err(e) => (None, Some(message(e))),
    };
    SdRecord { smiles, error, title, properties }
}

fn message(e: ChemError) -> String {
    match e {
        ChemError::InvalidSmiles(m) | ChemError::Rdkit(m) | ChemError::Inchi(m) => m,
    }
}

/// One SD record for `smiles`: a molblock with 2D coordinates from RDKit's
/// depictor (those of [`depict_svg`](crate::depict_svg)), `title` as its first
/// line and [`MOLBLOCK_HEADER_LINE`] as its second, then each `(tag, value)`
/// as a data item in the format SDWriter writes (`>  <tag>  `, the value, an
/// empty line), then `$$$$`. Same input, same bytes.
///
/// Nothing in the title or data can break the record; what would is changed
/// as follows (and read back by [`read_sd_record`] as noted):
/// * a line break in the title or a tag becomes a space; a `>` in a tag,
///   which would end its name early, becomes `_`, and an empty tag (which
///   readers skip, value and all) is written `_`;
/// * `\r\n` and lone `\r` in a value become `\n`;
/// * an empty line inside a value, which would end it, is written as a line
///   of one space (read back as that space);
/// * a line of the title or of a value that starts with `$$$$`, which would
///   end the record for any reader, gets a leading space (read back with it,
///   except in the title, which is trimmed).
///
/// Cost: about that of [`depict_svg`](crate::depict_svg) (the depictor's 2D
/// coordinates dominate): under a millisecond for a drug-like molecule,
/// seconds near [`MAX_ATOMS`](crate::MAX_ATOMS) atoms.
///
/// Errors: [`ChemError::InvalidSmiles`] as from [`Molecule::from_smiles`].
pub fn sd_record_2d(smiles: &str, title: &str, data: &[(&str, &str)]) -> Result<String, ChemError> {
    let mol = Molecule::from_smiles(smiles)?;
    let mut out = ffi::molblock_2d(mol.romol(), &safe_title(title), MOLBLOCK_HEADER_LINE).map_err(ChemError::rdkit)?;
    for (tag, value) in data {
        push_data_item(&mut out, tag, value);
    }
    out.push_str("$$$$\n");
    Ok(out)
}

/// The records of an SD file, as RDKit's SD reader cuts it: each from its
/// first line up to (not including) a line that starts with `$$$$`; text
/// after the last such line is a record too. Blank stretches (between two
/// `$$$$` lines, or after the last) are no records.
pub fn sd_records(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut at = 0;
        let (record, next) = loop {
            if rest[at..].starts_with("$$$$") {
                let after = rest[at..].find('\n').map_or(rest.len(), |i| at + i + 1);
                break (&rest[..at], &rest[after..]);
            }
            match rest[at..].find('\n') {
                Some(i) => at += i + 1,
                None => break (rest, ""),
            }
        };
        rest = next;
        if !record.trim().is_empty() {
            return Some(record);
        }
    })
}

/// A record's lines, without their `\n` or `\r\n`, with byte offsets; `end`
/// is where the record ends (the start of a `$$$$` line, or the text's end).
struct Lines<'a> {
    lines: Vec<Line<'a>>,
    end: usize,
}

struct Line<'a> {
    text: &'a str,
    /// Byte offset just past this line's `\n` (or the text's end).
    next: usize,
}

impl<'a> Lines<'a> {
    fn new(record: &'a str) -> Self {
        let mut lines = Vec::new();
        let mut start = 0;
        while start < record.len() {
            let (raw, next) = match record[start..].find('\n') {
                Some(i) => (&record[start..start + i], start + i + 1),
                None => (&record[start..], record.len()),
            };
            if raw.starts_with("$$$$") {
                return Lines { lines, end: start };
            }
            let text = raw.strip_suffix('\r').unwrap_or(raw);
            lines.push(Line { text, next });
            start = next;
        }
        Lines { lines, end: record.len() }
    }

    fn iter(&self) -> impl Iterator<Item = &Line<'a>> {
        self.lines.iter()
    }
}

/// What RDKit's `FileParserUtils::strip` removes.
fn strip(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

/// The data items of the text after `M  END` (see [`read_sd_record`]).
fn data_items(data: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut lines = data.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).peekable();
    while let Some(line) = lines.next() {
        let Some(header) = strip(line).strip_prefix('>') else {
            continue;
        };
        let name = header.find('<').and_then(|open| {
            let name = &header[open + 1..];
            name.find('>').map(|close| &name[..close])
        });
        let mut value = Vec::new();
        // RDKit reads on while a line has text or starts with a space or
        // tab, so only an empty line ends the value.
        while let Some(l) = lines.next_if(|l| !strip(l).is_empty() || l.starts_with([' ', '\t'])) {
            value.push(l);
        }
        match name {
            Some(name) if !name.is_empty() => items.push((name.to_owned(), value.join("\n"))),
            _ => {}
        }
    }
    items
}

fn safe_title(title: &str) -> String {
    let one_line: String = title.chars().map(|c| if matches!(c, '\r' | '\n') { ' ' } else { c }).collect();
    guard_record_end(one_line)
}

/// A line that starts with `$$$$` would end the record: it gets a leading space.
fn guard_record_end(line: String) -> String {
    if line.starts_with("$$$$") {
        format!(" {line}")
    } else {
        line
    }
}

/// Appends one data item as SDWriter writes it (`>  <tag>  `, the value, an
/// empty line), made safe as [`sd_record_2d`] describes.
fn push_data_item(out: &mut String, tag: &str, value: &str) {
    let tag: String = tag
        .chars()
        .map(|c| match c {
            '\r' | '\n' => ' ',
            '>' => '_',
            c => c,
        })
        .collect();
    out.push_str(">  <");
    out.push_str(if tag.is_empty() { "_" } else { &tag });
    out.push_str(">  \n");
    if !value.is_empty() {
        let value = value.replace("\r\n", "\n").replace('\r', "\n");
        for line in value.split('\n') {
            if line.is_empty() {
                out.push(' ');
            } else {
                out.push_str(&guard_record_end(line.to_owned()));
            }
            out.push('\n');
        }
    } else {
        out.push('\n');
    }
    out.push('\n');
}

/// An SD record without a molecule (no atoms, no bonds), `title` and `data`
/// written as [`sd_record_2d`] writes them: what an export writes for a
/// compound RDKit cannot read, so that its values are not lost and the file
/// keeps one record per compound. RDKit reads it back as an empty molecule.
pub fn sd_record_without_molecule(title: &str, data: &[(&str, &str)]) -> String {
    let mut out = format!("{}\n{MOLBLOCK_HEADER_LINE}\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n", safe_title(title));
    for (tag, value) in data {
        push_data_item(&mut out, tag, value);
    }
    out.push_str("$$$$\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMILES: &[&str] = &[
        "CCO",
        "CC(=O)Oc1ccccc1C(=O)O",
        "C[C@H](N)C(=O)O",
        "C/C=C/C(=O)[O-].[Na+]",
        "[2H]C([2H])([2H])c1ccc(cc1)S(=O)(=O)N",
        "C[N+](C)(C)C",
        "C[C@H](N)C(=O)O |&1:1|",
    ];

    #[test]
    fn records_are_written_as_rdkit_sdwriter_writes_them() {
        // SDWriter writes a value as it is, so only values it keeps intact;
        // it writes a "private" one (leading '_') too.
        let data = [("id", "7"), ("name", "two\nlines"), ("_private", "x"), ("spaces", "  a  ")];
        let (tags, values): (Vec<&str>, Vec<&str>) = data.iter().copied().unzip();
        for s in SMILES {
            let ours = sd_record_2d(s, "title", &data).unwrap();
            let mol = Molecule::from_smiles(s).unwrap();
            // With RDKit's own header line 2, which must be ours.
            let mut rdkit = ffi::sd_writer_text(mol.romol(), "title", &tags, &values).unwrap();
            // The SMILES parser keeps a CXSMILES extension as a property,
            // which SDWriter writes too; we write only the data we are given.
            rdkit = rdkit.replace(">  <_CXSMILES_Data>  \n|&1:1|\n\n", "");
            assert_eq!(ours, rdkit, "{s}");
        }
    }

    #[test]
    fn records_are_read_as_rdkit_sdmolsupplier_reads_them() {
        let mut records: Vec<String> = SMILES
            .iter()
            .map(|s| {
                let data = [("id", "1"), ("multi", "a\nb\n  \nc"), ("indented", "  x")];
                let r = sd_record_2d(s, "  padded title  ", &data).unwrap();
                r.strip_suffix("$$$$\n").unwrap().to_owned()
            })
            .collect();
        let methane = records[0].split("M  END\n").next().unwrap().to_owned() + "M  END\n";
        // No header without a name (RDKit 2022.09 then reads on to the end
        // and loses every later item) and no value running into the `$$$$`
        // line (RDKit reads that line into the value): `tests/sdf.rs` has
        // those.
        records.push(format!(
            "{methane}> 25  <MELTING.POINT>  (1)\n-33\n\n\n\n>  <a>\n\
             \x20\n\tb\n\n>  <last>\nv\n\n"
        ));
        records.push(methane.to_string());
        records.push(format!("{methane}>  <only item>  \n\n"));
        records.push(records[1].replace('\n', "\r\n"));
        records.push(
            "bad valence\n     RDKit          2D\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\n\
             \x20   0.0000    0.0000    0.0000 F   0  0\n\
             \x20   1.0000    0.0000    0.0000 F   0  0\n  1  2  2  0\nM  END\n>  <id>\n9\n\n"
                .to_owned(),
        );
        records.push("not a molblock\nat all\n".to_owned());
        for record in &records {
            let ours = read_sd_record(record);
            let rdkit = ffi::sd_supplier_read(record);
            if rdkit.error.is_empty() {
                assert_eq!(ours.smiles.as_deref(), Some(rdkit.smiles.as_str()), "{record}");
                assert_eq!(ours.error, None);
                assert_eq!(ours.title, rdkit.title.trim(), "{record}");
                let theirs: Vec<(String, String)> = rdkit.tags.iter().zip(&rdkit.values).map(|(t, v)| (t.to_string(), v.to_string())).collect();
                assert_eq!(ours.properties, theirs, "{record}");
            } else {
                assert_eq!(ours.smiles, None, "{record}: RDKit: {}", rdkit.error);
                assert!(ours.error.is_some());
            }
        }
    }
}
