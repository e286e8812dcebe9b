use pharmforge_chem::Molecule;
use std::time::Instant;
fn main() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/reference");
    let text = std::fs::read_to_string(dir.join("chembl_cmet_1017.rdkit.jsonl")).unwrap();
    let smiles: Vec<String> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["smiles"].as_str().unwrap().to_owned()).collect();
    let reps: usize = std::env::var("REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let n = (reps * smiles.len()) as f64;
    let mols: Vec<Molecule> = smiles.iter().map(|s| Molecule::from_smiles(s).unwrap()).collect();
    let mut t = |name: &str, f: &dyn Fn(&Molecule)| {
        let s = Instant::now();
        for _ in 0..reps { for m in &mols { f(m) } }
        eprintln!("{name:>20}: {:7.1} us/mol", s.elapsed().as_secs_f64()*1e6/n);
    };
    let s = Instant::now();
    for _ in 0..reps { for sm in &smiles { std::hint::black_box(Molecule::from_smiles(sm).unwrap()); } }
    eprintln!("{:>20}: {:7.1} us/mol", "parse", s.elapsed().as_secs_f64()*1e6/n);
    t("properties", &|m| { std::hint::black_box(m.properties().unwrap()); });
    t("props_no_inchi", &|m| { std::hint::black_box(m.properties_without_inchi().unwrap()); });
    t("inchi", &|m| { std::hint::black_box(m.inchi().unwrap()); });
    t("smiles", &|m| { std::hint::black_box(m.canonical_smiles()); });
    t("qed", &|m| { std::hint::black_box(m.qed()); });
}
