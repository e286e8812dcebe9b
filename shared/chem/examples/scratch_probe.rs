use pharmforge_chem::*;
use std::time::Instant;
fn t<F: FnMut()>(name: &str, n: f64, mut f: F) { f(); let s = Instant::now(); f(); f(); println!("{name:>16} {:8.1} us", s.elapsed().as_secs_f64()*1e6/n/2.0); }
fn main() {
    let text = std::fs::read_to_string("/work/shared/data/reference/chembl_cmet_1017.rdkit.jsonl").unwrap();
    let smiles: Vec<String> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["smiles"].as_str().unwrap().to_owned()).collect();
    let mols: Vec<Molecule> = smiles.iter().map(|s| Molecule::from_smiles(s).unwrap()).collect();
    let n = smiles.len() as f64;
    t("parse", n, || for s in &smiles { std::hint::black_box(Molecule::from_smiles(s).unwrap()); });
    t("smiles", n, || for m in &mols { std::hint::black_box(m.canonical_smiles()); });
    t("molblock", n, || for m in &mols { std::hint::black_box(m.mol_block()); });
    let mbs: Vec<String> = mols.iter().map(|m| m.mol_block()).collect();
    t("inchi(lib)", n, || for m in &mbs { std::hint::black_box(inchi::from_molfile(m, inchi::Options::new().aux_info(false)).unwrap()); });
    t("qed", n, || for m in &mols { std::hint::black_box(m.qed()); });
    t("props-no-inchi", n, || for m in &mols { std::hint::black_box(m.properties_without_inchi().unwrap()); });
    t("props", n, || for m in &mols { std::hint::black_box(m.properties().unwrap()); });
    let stereo = mols.iter().filter(|m| m.atoms().any(|a| a.chiral_tag != 0) || m.bonds().any(|b| b.stereo > 1)).count();
    println!("with specified stereo: {stereo}/{}", mols.len());
}
