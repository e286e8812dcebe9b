//! SD records: what `sd_record_2d` writes, `read_sd_record` reads back (the
//! same canonical SMILES, title and data, over every valid reference
//! molecule); a record RDKit refuses keeps its title and data; values that
//! would break the format are made safe; an export is byte-identical.
//! (`src/sdf.rs` holds both halves against RDKit's SDWriter and
//! SDMolSupplier.)

use pharmforge_chem::{read_sd_record, sd_record_2d, sd_records, ChemError, Molecule, SdRecord, MAX_ATOMS, MOLBLOCK_HEADER_LINE};
use serde_json::Value;
use std::path::PathBuf;

fn reference_dir() -> PathBuf {
    let default = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/reference");
    if default.is_dir() {
        return default;
    }
    std::env::var_os("PHARMFORGE_REFERENCE_DIR").map(PathBuf::from).unwrap_or_else(|| panic!("reference data not found at {}", default.display()))
}

/// `tests/data/`, made by `tools/make_sd_test_set.py`.
fn test_data(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every valid molecule of `shared/data/reference/*.jsonl`, then the
/// stereoisomers, protonated amines and carboxylates made from them
/// (`tests/data/stereo_charged.smi`).
fn test_smiles() -> Vec<String> {
    let mut out = reference_smiles();
    let made = test_data("stereo_charged.smi");
    out.extend(made.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| l.split('\t').next().unwrap().to_owned()));
    out
}

/// The SMILES of every valid molecule of `shared/data/reference/*.jsonl`.
fn reference_smiles() -> Vec<String> {
    let mut out = Vec::new();
    for name in ["edge_cases.rdkit.jsonl", "cdk2_47.rdkit.jsonl", "chembl_cmet_1017.rdkit.jsonl"] {
        let path = reference_dir().join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).expect("reference line is JSON");
            if v["valid"] == true {
                out.push(v["smiles"].as_str().expect("smiles field").to_owned());
            }
        }
    }
    out
}

fn canonical(smiles: &str) -> String {
    Molecule::from_smiles(smiles).unwrap().canonical_smiles()
}

fn props(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The record's text without its `$$$$` line, as a caller of
/// `read_sd_record` has it after cutting a file with `sd_records`.
fn only_record(text: &str) -> &str {
    let records: Vec<&str> = sd_records(text).collect();
    assert_eq!(records.len(), 1, "one record expected in:\n{text}");
    records[0]
}

/// A V2000 record whose nitrogen (atom 2, index 1) has four bonds and no
/// charge, with a title and two data items.
const BAD_VALENCE_RECORD: &str = "\
tetramethyl nitrogen, no charge
     RDKit          2D

  5  4  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5000    0.0000    0.0000 N   0  0  0  0  0  0  0  0  0  0  0  0
    3.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5000    1.5000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.5000   -1.5000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
  2  4  1  0
  2  5  1  0
M  END
>  <id>  
bad-1

>  <comment>  
first line
second line

";

#[test]
fn a_record_written_by_sd_record_2d_reads_back_as_the_same_molecule_title_and_data() {
    let smiles = test_smiles();
    assert!(smiles.len() > 1200, "{} test molecules", smiles.len());
    let with = |pred: fn(&str) -> bool| smiles.iter().filter(|s| pred(s)).count();
    // The set must exercise what a molblock has to carry over.
    assert!(with(|s| s.contains('@')) >= 40, "tetrahedral stereo");
    assert!(with(|s| s.contains('/') || s.contains('\\')) >= 20, "double-bond stereo");
    assert!(with(|s| s.contains('+') || s.contains("-]")) >= 100, "charges");
    assert!(with(|s| s.contains('.')) >= 5, "salts");

    let mut failures = Vec::new();
    for (i, s) in smiles.iter().enumerate() {
        let title = format!("compound {i}");
        let id = format!("cmpd-{i}");
        let data = [("pharmforge_id", id.as_str()), ("input_smiles", s.as_str()), ("logp", "2.5"), ("notes", "first line\nsecond line")];
        let record = sd_record_2d(s, &title, &data).unwrap();
        let got = read_sd_record(only_record(&record));
        let want = SdRecord { smiles: Some(canonical(s)), error: None, title, properties: props(&data) };
        if got != want {
            failures.push(format!("{s}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} records did not round-trip:\n{}", failures.len(), smiles.len(), failures.join("\n"));
}

#[test]
fn an_sd_file_written_by_another_rdkit_release_is_read() {
    // 40 records with 2D and 10 with 3D coordinates (explicit Hs), written by
    // the Python RDKit named in stereo_charged.smi's first line.
    let file = test_data("rdkit_written.sdf");
    let records: Vec<SdRecord> = sd_records(&file).map(read_sd_record).collect();
    assert_eq!(records.len(), 50);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.title, format!("record {}", i + 1));
        let names: Vec<&str> = r.properties.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["smiles", "source"], "{}", r.title);
        let written = &r.properties[0].1;
        assert_eq!(r.smiles, Some(canonical(written)), "{}: {:?}", r.title, r.error);
    }
}

#[test]
fn a_record_with_a_bad_valence_gives_no_smiles_but_keeps_its_title_and_data() {
    let got = read_sd_record(BAD_VALENCE_RECORD);
    assert_eq!(
        got,
        SdRecord {
            smiles: None,
            error: Some("Explicit valence for atom # 1 N, 4, is greater than permitted".into()),
            title: "tetramethyl nitrogen, no charge".into(),
            properties: props(&[("id", "bad-1"), ("comment", "first line\nsecond line")]),
        }
    );
}

#[test]
fn the_same_record_with_a_charge_on_the_nitrogen_is_read() {
    let charged = BAD_VALENCE_RECORD.replace("M  END", "M  CHG  1   2   1\nM  END");
    let got = read_sd_record(&charged);
    assert_eq!(got.smiles.as_deref(), Some("C[N+](C)(C)C"), "{:?}", got.error);
    assert_eq!(got.error, None);
    assert_eq!(got.properties.len(), 2);
}

#[test]
fn multi_line_values_keep_their_line_breaks_and_spaces() {
    let data = [("three lines", "a\nb\nc"), ("indented", "  leading\n\ttab\ntrailing  "), ("blank-looking line", "above\n   \nbelow"), ("single", "x")];
    let record = sd_record_2d("c1ccccc1O", "phenol", &data).unwrap();
    let got = read_sd_record(only_record(&record));
    assert_eq!(got.properties, props(&data));
    assert_eq!(got.title, "phenol");
    assert_eq!(got.smiles.as_deref(), Some("Oc1ccccc1"));
}

#[test]
fn values_that_would_break_the_record_are_made_safe() {
    let data = [
        ("blank line inside", "before\n\nafter"),
        ("leading and trailing blank lines", "\nmiddle\n"),
        ("record end", "$$$$"),
        ("record end on a later line", "ok\n$$$$ not the end"),
        ("windows line ends", "one\r\ntwo\rthree"),
        ("empty", ""),
        ("tag with > and\nline break", "v"),
        ("", "empty tag"),
    ];
    let record = sd_record_2d("CCO", "two\nline title", &data).unwrap();
    let got = read_sd_record(only_record(&record));
    assert_eq!(got.title, "two line title");
    assert_eq!(
        got.properties,
        props(&[
            ("blank line inside", "before\n \nafter"),
            ("leading and trailing blank lines", " \nmiddle\n "),
            ("record end", " $$$$"),
            ("record end on a later line", "ok\n $$$$ not the end"),
            ("windows line ends", "one\ntwo\nthree"),
            ("empty", ""),
            ("tag with _ and line break", "v"),
            ("_", "empty tag"),
        ])
    );
    let title_record = sd_record_2d("CCO", "$$$$ title", &[]).unwrap();
    let got = read_sd_record(only_record(&title_record));
    assert_eq!(got.title, "$$$$ title");
    assert_eq!(got.smiles.as_deref(), Some("CCO"));
}

#[test]
fn an_export_is_byte_identical_every_time_with_a_fixed_header_line() {
    let data = [("id", "1"), ("name", "aspirin")];
    let a = sd_record_2d("CC(=O)Oc1ccccc1C(=O)O", "aspirin", &data).unwrap();
    let b = sd_record_2d("CC(=O)Oc1ccccc1C(=O)O", "aspirin", &data).unwrap();
    assert_eq!(a, b);
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines[0], "aspirin");
    assert_eq!(lines[1], MOLBLOCK_HEADER_LINE);
    assert!(lines[3].ends_with("V2000"), "{}", lines[3]);
    assert!(a.ends_with("M  END\n>  <id>  \n1\n\n>  <name>  \naspirin\n\n$$$$\n"), "{a}");
    // 2D coordinates: some x or y is not zero, every z is.
    let atoms = &lines[4..4 + 13];
    let coord = |l: &str, i: usize| -> f64 { l.split_whitespace().nth(i).unwrap().parse().unwrap() };
    assert!(atoms.iter().any(|l| coord(l, 0) != 0.0 || coord(l, 1) != 0.0));
    assert!(atoms.iter().all(|l| coord(l, 2) == 0.0));
}

#[test]
fn stereo_is_written_as_wedges_and_read_back() {
    for s in ["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O", "C/C=C/C", "C/C=C\\C", "CC=CC"] {
        let record = sd_record_2d(s, "", &[]).unwrap();
        assert_eq!(read_sd_record(only_record(&record)).smiles, Some(canonical(s)), "{s}");
    }
}

#[test]
fn invalid_smiles_is_an_error_for_sd_record_2d() {
    for s in ["C1CC", "not_a_smiles", "", "c1cccc1"] {
        match sd_record_2d(s, "t", &[("a", "b")]) {
            Err(ChemError::InvalidSmiles(msg)) => assert!(!msg.is_empty(), "{s:?}"),
            other => panic!("{s:?}: {other:?}"),
        }
    }
}

#[test]
fn a_record_that_is_not_a_molblock_keeps_its_title_and_data() {
    let record = "just a title\nsome text\n\nmore\n>  <id>  \n7\n\n";
    let got = read_sd_record(record);
    assert_eq!(got.smiles, None);
    assert!(!got.error.as_deref().unwrap_or("").is_empty(), "{got:?}");
    assert_eq!(got.title, "just a title");
    // Without an `M  END` line there is no telling molblock from data.
    assert_eq!(got.properties, vec![]);

    let empty = read_sd_record("");
    assert_eq!(empty.smiles, None);
    assert!(empty.error.is_some());
    assert_eq!(empty.title, "");
    assert_eq!(empty.properties, vec![]);
}

#[test]
fn a_record_without_atoms_gives_no_smiles() {
    let record = "empty\n     RDKit          2D\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n>  <id>  \n1\n\n";
    let got = read_sd_record(record);
    assert_eq!(got.smiles, None);
    assert_eq!(got.error.as_deref(), Some("molblock has no atoms"));
    assert_eq!(got.properties, props(&[("id", "1")]));
}

#[test]
fn a_v3000_block_with_too_many_atoms_is_refused_before_rdkit_reads_it() {
    let n = MAX_ATOMS + 1;
    let record = format!(
        "big\n     RDKit          2D\n\n  0  0  0  0  0  0  0  0  0  0999 V3000\n\
         M  V30 BEGIN CTAB\nM  V30 COUNTS {n} 0 0 0 0\nM  V30 END CTAB\nM  END\n"
    );
    let got = read_sd_record(&record);
    assert_eq!(got.smiles, None);
    assert_eq!(got.error.as_deref(), Some(format!("molecule has {n} atoms; at most {MAX_ATOMS} are supported").as_str()));
    let huge = record.replace(&n.to_string(), "99999999999999999999999");
    assert!(read_sd_record(&huge).error.unwrap().contains("at most"));
}

#[test]
fn v3000_records_are_read() {
    // Enhanced stereo (a stereo group) makes RDKit write V3000.
    let s = "C[C@H](N)C(=O)O |&1:1|";
    let record = sd_record_2d(s, "v3", &[("k", "v")]).unwrap();
    assert!(record.contains("V3000"), "{record}");
    let got = read_sd_record(only_record(&record));
    assert_eq!(got.smiles, Some(canonical(s)));
    assert_eq!(got.properties, props(&[("k", "v")]));
}

#[test]
fn windows_line_ends_read_like_unix_ones() {
    let unix = sd_record_2d("c1ccncc1", "pyridine", &[("a", "1\n2"), ("b", "x")]).unwrap();
    let windows = unix.replace('\n', "\r\n");
    let want = read_sd_record(only_record(&unix));
    assert_eq!(want.smiles.as_deref(), Some("c1ccncc1"));
    assert_eq!(read_sd_record(only_record(&windows)), want);
    assert_eq!(read_sd_record(&BAD_VALENCE_RECORD.replace('\n', "\r\n")), read_sd_record(BAD_VALENCE_RECORD));
}

#[test]
fn data_items_are_read_as_rdkit_reads_them() {
    let molblock = only_record(&sd_record_2d("C", "methane", &[]).unwrap()).to_owned();
    let record = format!(
        "{molblock}\
         > 25  <MELTING.POINT>  (1)\n\
         -33\n\
         \n\
         >  no name here\n\
         skipped with its header\n\
         \n\
         ><>\n\
         empty name, skipped\n\
         \n\
         \n\
         \n\
         >  <spaced>\n\
         \x20\x20\n\
         \tafter\n\
         \n\
         stray text between items\n\
         >  <last>\n\
         value without the final empty line"
    );
    let got = read_sd_record(&record);
    assert_eq!(got.smiles.as_deref(), Some("C"));
    assert_eq!(got.properties, props(&[("MELTING.POINT", "-33"), ("spaced", "  \n\tafter"), ("last", "value without the final empty line"),]));
}

#[test]
fn sd_records_cuts_a_file_as_rdkit_does() {
    let a = sd_record_2d("CCO", "a", &[("k", "1")]).unwrap();
    let b = sd_record_2d("CCN", "b", &[]).unwrap();
    let c = only_record(&sd_record_2d("CCC", "c", &[]).unwrap()).to_owned();
    // Blank lines between records, a `$$$$` line with trailing text, and a
    // last record without its `$$$$`.
    let file = format!("{a}\n\n$$$$\n{}$$$$ trailing\n{c}", b.trim_end_matches("$$$$\n"));
    let titles: Vec<String> = sd_records(&file).map(|r| read_sd_record(r).title).collect();
    assert_eq!(titles, ["a", "b", "c"]);
    assert_eq!(sd_records("").count(), 0);
    assert_eq!(sd_records("\n  \n$$$$\n\n").count(), 0);
    let first = sd_records(&file).next().unwrap();
    assert_eq!(first, a.strip_suffix("$$$$\n").unwrap());
}

#[test]
fn a_record_without_a_molecule_keeps_its_title_and_data() {
    let data = [("id", "x-1"), ("error", "invalid SMILES: C1CC\n$$$$")];
    let record = pharmforge_chem::sd_record_without_molecule("lost\ncompound", &data);
    let got = read_sd_record(only_record(&record));
    assert_eq!(got.smiles, None);
    assert_eq!(got.error.as_deref(), Some("molblock has no atoms"));
    assert_eq!(got.title, "lost compound");
    assert_eq!(got.properties, props(&[("id", "x-1"), ("error", "invalid SMILES: C1CC\n $$$$")]));
}
