use pharmforge_chem::Molecule;
#[repr(C)] struct Ts { s: i64, ns: i64 }
extern "C" { fn clock_gettime(c: i32, t: *mut Ts) -> i32; }
fn cpu() -> f64 { let mut t = Ts { s: 0, ns: 0 }; unsafe { clock_gettime(3, &mut t) }; t.s as f64 + t.ns as f64 * 1e-9 }
fn main() {
    let dir = std::path::PathBuf::from(std::env::var("REFDIR").unwrap_or("/work/shared/data/reference".into()));
    let text = std::fs::read_to_string(dir.join("chembl_cmet_1017.rdkit.jsonl")).unwrap();
    let smiles: Vec<String> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["smiles"].as_str().unwrap().to_owned()).collect();
    let reps: usize = std::env::var("REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let n = smiles.len() as f64;
    let only = std::env::var("STAGE").ok();
    let t = |name: &str, f: &dyn Fn(&str)| {
        if only.as_deref().is_some_and(|o| o != name) { return; }
        let mut best = f64::MAX;
        for _ in 0..reps { let s = cpu(); for sm in &smiles { f(sm) } best = best.min((cpu() - s) * 1e6 / n); }
        eprintln!("{name:>14}: {best:7.1} us/mol (thread CPU, min of {reps})");
    };
    let p = |s: &str| Molecule::from_smiles(s).unwrap();
    t("parse", &|s| { std::hint::black_box(p(s)); });
    t("parse+smiles", &|s| { std::hint::black_box(p(s).canonical_smiles()); });
    t("parse+inchi", &|s| { std::hint::black_box(p(s).inchi().unwrap()); });
    t("parse+qed", &|s| { std::hint::black_box(p(s).qed()); });
    t("full_no_inchi", &|s| { std::hint::black_box(p(s).properties_without_inchi().unwrap()); });
    t("full", &|s| { std::hint::black_box(p(s).properties().unwrap()); });
}
