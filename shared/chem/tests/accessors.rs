//! Atom and bond views on small molecules whose answers are known.

use pharmforge_chem::{BondType, Hybridization, Molecule};

#[test]
fn ethanol() {
    let m = Molecule::from_smiles("CCO").unwrap();
    assert_eq!((m.num_atoms(), m.num_bonds()), (3, 2));
    let c0 = m.atom(0);
    assert_eq!(c0.atomic_num, 6);
    assert_eq!(c0.total_degree, 4);
    assert_eq!(c0.total_num_hs, 3);
    assert_eq!(c0.formal_charge, 0);
    assert_eq!(c0.chiral_tag, 0);
    assert_eq!(c0.hybridization, Hybridization::SP3);
    assert!(!c0.is_aromatic);
    assert!((c0.mass - 12.011).abs() < 1e-9);
    let o = m.atom(2);
    assert_eq!((o.atomic_num, o.total_degree, o.total_num_hs), (8, 2, 1));
    assert!((o.mass - 15.999).abs() < 1e-9);
    let b = m.bond(1);
    assert_eq!((b.begin, b.end), (1, 2));
    assert_eq!(b.bond_type, BondType::Single);
    assert_eq!(b.bond_type.rdkit_value(), 1);
    assert!(!b.is_conjugated && !b.in_ring);
    assert_eq!(b.stereo, 0);
    assert_eq!(m.canonical_smiles(), "CCO");
}

#[test]
fn benzene_is_aromatic() {
    let m = Molecule::from_smiles("C1=CC=CC=C1").unwrap();
    assert_eq!((m.num_atoms(), m.num_bonds()), (6, 6));
    for a in m.atoms() {
        assert_eq!((a.atomic_num, a.total_degree, a.total_num_hs), (6, 3, 1));
        assert!(a.is_aromatic);
        assert_eq!(a.hybridization, Hybridization::SP2);
    }
    for b in m.bonds() {
        assert_eq!(b.bond_type, BondType::Aromatic);
        assert_eq!(b.bond_type.rdkit_value(), 12);
        assert!(b.is_conjugated && b.in_ring);
    }
    assert_eq!(m.canonical_smiles(), "c1ccccc1");
}

#[test]
fn charged_atoms() {
    let m = Molecule::from_smiles("C[N+](C)(C)C.CC(=O)[O-]").unwrap();
    let n = m.atom(1);
    assert_eq!((n.atomic_num, n.formal_charge, n.total_degree, n.total_num_hs), (7, 1, 4, 0));
    assert_eq!(n.hybridization, Hybridization::SP3);
    let o = m.atom(8);
    assert_eq!((o.atomic_num, o.formal_charge, o.total_num_hs), (8, -1, 0));
    let p = m.properties().unwrap();
    assert_eq!(p.formal_charge, 0);
    assert_eq!(p.formula, "C6H15NO2");
}

#[test]
fn chiral_atoms_and_stereo_bonds() {
    // '@' is counter-clockwise (CHI_TETRAHEDRAL_CCW = 2), '@@' clockwise (1).
    let l_ala = Molecule::from_smiles("C[C@H](N)C(=O)O").unwrap();
    assert_eq!(l_ala.atom(1).chiral_tag, 2);
    assert_eq!(l_ala.atom(0).chiral_tag, 0);
    let d_ala = Molecule::from_smiles("C[C@@H](N)C(=O)O").unwrap();
    assert_eq!(d_ala.atom(1).chiral_tag, 1);
    assert_ne!(l_ala.inchi().unwrap().inchikey, d_ala.inchi().unwrap().inchikey);
    assert_eq!(l_ala.inchi().unwrap().inchikey, "QNAYBMKLOCPYGJ-REOHCLBHSA-N");
    assert_eq!(l_ala.properties().unwrap().stereo_centers, 1);

    // Bond stereo: RDKit's BondStereo, 3 = STEREOE, 2 = STEREOZ.
    let e = Molecule::from_smiles("F/C=C/F").unwrap();
    assert_eq!(e.bond(1).bond_type, BondType::Double);
    assert_eq!(e.bond(1).stereo, 3);
    let z = Molecule::from_smiles("F/C=C\\F").unwrap();
    assert_eq!(z.bond(1).stereo, 2);
    let unspecified = Molecule::from_smiles("FC=CF").unwrap();
    assert_eq!(unspecified.bond(1).stereo, 0);
}

#[test]
fn triple_bonds_isotopes_and_other_bond_types() {
    let m = Molecule::from_smiles("CC#N").unwrap();
    assert_eq!(m.bond(1).bond_type, BondType::Triple);
    assert_eq!(m.atom(1).hybridization, Hybridization::SP);
    assert!(!m.bond(1).is_conjugated);

    let d = Molecule::from_smiles("[2H]C([2H])([2H])O").unwrap();
    assert_eq!(d.num_atoms(), 5, "isotopic H stay in the graph");
    assert!((d.atom(0).mass - 2.014_101_778).abs() < 1e-6);

    let quad = Molecule::from_smiles("C$C").unwrap(); // RDKit: '$' is a quadruple bond
    assert_eq!(quad.bond(0).bond_type, BondType::Other(4));
    assert_eq!(BondType::from_rdkit(4).rdkit_value(), 4);
    assert_eq!(BondType::from_rdkit(12), BondType::Aromatic);
    assert_eq!(Hybridization::from_rdkit(99), Hybridization::Other);
}

#[test]
#[should_panic(expected = "atom index 3 out of range")]
fn atom_index_out_of_range_panics_like_indexing() {
    let m = Molecule::from_smiles("CCO").unwrap();
    let _ = m.atom(3);
}

#[test]
fn molecule_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let m = Molecule::from_smiles("CCO").unwrap();
    assert_send(&m);
    let handle = std::thread::spawn(move || m.canonical_smiles());
    assert_eq!(handle.join().unwrap(), "CCO");
}

#[test]
fn molblock_and_version() {
    let m = Molecule::from_smiles("c1ccccc1O").unwrap();
    let mb = m.mol_block();
    assert!(mb.contains("V2000") && mb.contains("M  END"), "{mb}");
    assert!(pharmforge_chem::rdkit_version().starts_with("20"), "{}", pharmforge_chem::rdkit_version());
    let i = m.inchi().unwrap();
    assert_eq!(i.inchi, "InChI=1S/C6H6O/c7-6-4-2-1-3-5-6/h1-5,7H");
    assert_eq!(i.inchikey, "ISWSIDIOOBJBQZ-UHFFFAOYSA-N");
}

#[test]
fn property_atom_counts_include_implicit_hydrogens() {
    let p = pharmforge_chem::compute_properties("CCO").unwrap();
    assert_eq!((p.num_atoms, p.num_heavy_atoms), (9, 3));
    // Deuterium stays in the graph: 5 graph atoms + the O's implicit H.
    let p = pharmforge_chem::compute_properties("[2H]C([2H])([2H])O").unwrap();
    assert_eq!((p.num_atoms, p.num_heavy_atoms), (6, 2));
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["h_bond_donors"], 1);
    let back: pharmforge_chem::Properties = serde_json::from_value(json).unwrap();
    assert_eq!(back, p);
}
