use pharmforge_chem::*;
fn main() {
    for s in ["CC=CC", "C/C=C/C", "CC(F)Cl", "C[C@H](F)Cl", "ClC=CC=CCl", "C1CCCCCCC=CCCC1", "CC=NO"] {
        let m = Molecule::from_smiles(s).unwrap();
        let r = m.inchi().map(|r| r.inchi).unwrap_or_else(|e| e.to_string());
        println!("{s}: {r}");
        if s == "CC=CC" { println!("{}", m.mol_block()); }
    }
}
