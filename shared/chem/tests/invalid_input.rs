//! Whatever string arrives, `Molecule::from_smiles` returns `Ok` or `Err`:
//! it never panics, aborts or writes to stderr. Also: RDKit's own messages
//! reach the caller, and the size limits hold.

use pharmforge_chem::{compute_properties, ChemError, Molecule, MAX_ATOMS, MAX_SMILES_LEN};

fn invalid_message(smiles: &str) -> String {
    match Molecule::from_smiles(smiles) {
        Ok(m) => panic!("{smiles:?} was accepted as {}", m.canonical_smiles()),
        Err(ChemError::InvalidSmiles(msg)) => msg,
        Err(other) => panic!("{smiles:?}: expected InvalidSmiles, got {other:?}"),
    }
}

#[test]
fn rdkit_messages_are_passed_on() {
    let cases = [
        ("c1ccnc1", "Can't kekulize mol.  Unkekulized atoms: 0 1 2 3 4"),
        ("c1cccc1", "Can't kekulize mol.  Unkekulized atoms: 0 1 2 3 4"),
        ("CC(C)(C)(C)C", "Explicit valence for atom # 1 C, 5, is greater than permitted"),
        ("C1CC1(", "SMILES Parse Error: syntax error while parsing: C1CC1("),
        ("not_a_smiles", "SMILES Parse Error: syntax error while parsing: not_a_smiles"),
        ("C1CC", "SMILES Parse Error: unclosed ring for input: 'C1CC'"),
    ];
    for (smiles, want) in cases {
        assert_eq!(invalid_message(smiles), want, "for {smiles:?}");
    }
    let e = compute_properties("C1CC1(").unwrap_err();
    assert_eq!(e.to_string(), "invalid SMILES: SMILES Parse Error: syntax error while parsing: C1CC1(");
}

#[test]
fn empty_blank_and_nul_inputs_are_rejected() {
    for s in ["", " ", "   \t\n", "\0", "C\0C", "CCO\0", "\0\0\0"] {
        let msg = invalid_message(s);
        assert!(!msg.is_empty(), "{s:?}");
    }
    assert!(invalid_message("C\0C").contains("NUL"));
    assert!(invalid_message("").contains("no atoms"));
}

#[test]
fn non_ascii_in_the_smiles_token_is_rejected() {
    // RDKit alone would read "C☃C" as methane named "☃C".
    assert_eq!(invalid_message("C☃C"), "SMILES contains '☃' at byte 1; SMILES are printable ASCII");
    assert!(invalid_message("\u{feff}CCO").contains("'\\u{feff}' at byte 0"));
    // A whitespace-separated name may be anything (as in RDKit).
    let m = Molecule::from_smiles("CCO éthanol ☃").expect("name part is free text");
    assert_eq!(m.canonical_smiles(), "CCO");
}

#[test]
fn garbage_and_unicode_are_rejected() {
    for s in [
        "garbage",
        "☃",
        "日本語",
        "C☃C",
        "🧪",
        "[Xx]",
        "C[Zz]C",
        "((((",
        "))))",
        "C=)",
        "[C",
        "C1CC1CC1(",
        "c",
        "[NH4+",
        "C%",
        "C%1",
        "{}",
        "<>",
        "\\\\",
        "////",
        "\u{feff}C",
        "C\u{200b}C",
        "1234",
        "##",
        "==",
        "[]",
        "[-]",
        "[+++++]C",
        "C@@@@@C",
    ] {
        assert!(Molecule::from_smiles(s).is_err(), "{s:?} accepted");
    }
}

#[test]
fn huge_inputs_are_rejected_quickly() {
    let t = std::time::Instant::now();
    let huge = ["C".repeat(100_000), "(".repeat(100_000), "c1ccccc1".repeat(20_000), "☃".repeat(40_000), "C".repeat(MAX_SMILES_LEN + 1)];
    for s in &huge {
        let msg = invalid_message(s);
        assert!(msg.contains("at most") || msg.contains("printable ASCII"), "{msg}");
        assert!(msg.len() < 1000, "message not truncated: {} bytes", msg.len());
    }
    // Within the byte limit but with too many atoms: counted before the
    // (superlinear) full parse.
    let msg = invalid_message(&"C".repeat(5_000));
    assert_eq!(msg, format!("molecule has 5000 atoms; at most {MAX_ATOMS} are supported"));
    // Long and malformed: the syntax error comes back, truncated.
    let msg = invalid_message(&format!("{}(", "C".repeat(5_000)));
    assert!(msg.starts_with("SMILES Parse Error"), "{msg}");
    assert!(msg.len() <= 504, "{} bytes", msg.len());
    let msg = invalid_message(&"C(".repeat(4_000));
    assert!(msg.starts_with("SMILES Parse Error"), "{msg}");
    assert!(t.elapsed().as_secs() < 30, "took {:?}", t.elapsed());
}

#[test]
fn largest_accepted_molecule_works_on_a_default_thread_stack() {
    // A linear chain is the worst case for RDKit's recursive canonicalisation;
    // test threads have 2 MiB stacks, like tokio's workers.
    let m = Molecule::from_smiles(&"C".repeat(MAX_ATOMS)).expect("1,000-atom chain");
    assert_eq!(m.num_atoms(), MAX_ATOMS);
    let p = m.properties().expect("properties");
    assert_eq!(p.num_heavy_atoms as usize, MAX_ATOMS);
    assert!(p.inchikey.is_some());
    assert!(Molecule::from_smiles(&"C".repeat(MAX_ATOMS + 1)).is_err());
}

/// A deterministic fuzz over SMILES-like strings: every outcome is fine as
/// long as it is an `Ok` or an `Err` (and properties of an `Ok` compute).
#[test]
fn random_smiles_alphabet_strings_never_crash() {
    const ALPHABET: &[&str] = &[
        "C", "c", "N", "n", "O", "o", "S", "s", "P", "F", "Cl", "Br", "I", "B", "[nH]", "[NH4+]", "[O-]", "[C@H]", "[C@@H]", "[2H]", "[Fe+2]", "[Na+]", "[se]",
        "(", ")", "=", "#", "$", ":", "/", "\\", ".", "1", "2", "3", "%10", "@", "+", "-", "[", "]", "*", "[*]", "~", " ",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut ok, mut err) = (0, 0);
    for _ in 0..3_000 {
        let len = 1 + (next() % 40) as usize;
        let s: String = (0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]).collect();
        match Molecule::from_smiles(&s) {
            Ok(m) => {
                ok += 1;
                let _ = m.canonical_smiles();
                let _ = m.properties();
                for i in 0..m.num_atoms() {
                    let _ = m.atom(i);
                }
                for i in 0..m.num_bonds() {
                    let _ = m.bond(i);
                }
            }
            Err(ChemError::InvalidSmiles(msg)) => {
                err += 1;
                assert!(!msg.is_empty());
            }
            Err(other) => panic!("{s:?}: unexpected error kind {other:?}"),
        }
    }
    println!("fuzz: {ok} accepted, {err} rejected");
    assert!(ok > 100 && err > 100, "fuzz should exercise both paths ({ok} ok, {err} err)");
}
