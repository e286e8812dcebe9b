//! SMARTS compilation and matching.

use pharmforge_chem::{ChemError, Molecule, SmartsPattern};

fn mol(s: &str) -> Molecule {
    Molecule::from_smiles(s).unwrap()
}

#[test]
fn invalid_smarts_is_an_error_with_rdkit_message() {
    for s in ["[C", "C(", "", "  ", "C\0C", "[$(C)"] {
        match SmartsPattern::new(s) {
            Err(ChemError::Rdkit(msg)) => assert!(!msg.is_empty(), "{s:?}"),
            other => panic!("{s:?}: {other:?}"),
        }
    }
    let Err(ChemError::Rdkit(msg)) = SmartsPattern::new("[C") else { unreachable!() };
    assert_eq!(msg, "SMARTS Parse Error: syntax error while parsing: [C");
}

#[test]
fn counts_unique_and_all_matches() {
    let benzene = mol("c1ccccc1");
    let c = SmartsPattern::new("c").unwrap();
    assert_eq!(c.num_atoms(), 1);
    assert_eq!(benzene.substruct_match_count(&c, true), 6);
    let cc = SmartsPattern::new("cc").unwrap();
    assert_eq!(benzene.substruct_match_count(&cc, true), 6);
    assert_eq!(benzene.substruct_match_count(&cc, false), 12);
    let aliphatic = SmartsPattern::new("C").unwrap();
    assert_eq!(benzene.substruct_match_count(&aliphatic, true), 0);
    assert!(!benzene.has_substruct_match(&aliphatic));
    assert!(benzene.has_substruct_match(&c));
}

#[test]
fn functional_groups_rings_and_recursion() {
    let acid = SmartsPattern::new("C(=O)[OH]").unwrap();
    assert_eq!(mol("CC(=O)O").substruct_match_count(&acid, true), 1);
    assert_eq!(mol("OC(=O)CCC(=O)O").substruct_match_count(&acid, true), 2);
    assert_eq!(mol("CC(=O)OC").substruct_match_count(&acid, true), 0);

    let ring = SmartsPattern::new("[R]").unwrap();
    assert_eq!(mol("C1CCCCC1CC").substruct_match_count(&ring, true), 6);
    let carbonyl_c = SmartsPattern::new("[$(C=O)]").unwrap();
    assert_eq!(mol("CC(=O)CC=O").substruct_match_count(&carbonyl_c, true), 2);
    let not_in_amide = SmartsPattern::new("[N;!$(NC=O)]").unwrap();
    assert_eq!(mol("CNC(=O)CCN").substruct_match_count(&not_in_amide, true), 1);
    let halogen = SmartsPattern::new("[F,Cl,Br,I]").unwrap();
    assert_eq!(mol("FC(Cl)(Br)I").substruct_match_count(&halogen, true), 4);
    assert_eq!(mol("CCCC").substruct_match_count(&halogen, true), 0);
    let charged = SmartsPattern::new("[+,-]").unwrap();
    assert_eq!(mol("C[N+](C)(C)C.[Cl-]").substruct_match_count(&charged, true), 2);
    let disconnected = SmartsPattern::new("F.F.F").unwrap();
    assert!(mol("FC(F)F").has_substruct_match(&disconnected));
    assert!(!mol("FCF").has_substruct_match(&disconnected));
}

#[test]
fn one_pattern_many_molecules() {
    let amide = SmartsPattern::new("C(=O)N").unwrap();
    let expected = [("CC(=O)NC", 1), ("NC(=O)CC(=O)N", 2), ("CCO", 0), ("c1ccccc1C(=O)N(C)C", 1)];
    for (s, n) in expected {
        assert_eq!(mol(s).substruct_match_count(&amide, true), n, "{s}");
    }
    assert_eq!(amide.as_str(), "C(=O)N");
}

#[test]
fn smarts_pattern_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SmartsPattern>();
}
