//! Builds the physchem shim (`src/physchem.cc`: the RDKit functions
//! admet_ai/physchem.py calls, including FilterCatalog) against the system
//! RDKit; same defaults and overrides as pharmforge-chem's build.rs.

use std::env;
use std::path::PathBuf;

const RDKIT_LIBS: &[&str] =
    &["RDKitFilterCatalog", "RDKitCatalogs", "RDKitSmilesParse", "RDKitGraphMol", "RDKitDescriptors", "RDKitSubstructMatch", "RDKitRDGeneral"];

fn main() {
    println!("cargo:rerun-if-env-changed=RDKIT_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=RDKIT_LIB_DIR");
    for f in ["src/rdkit_physchem.rs", "src/physchem.cc", "include/physchem.h"] {
        println!("cargo:rerun-if-changed={f}");
    }
    let include = PathBuf::from(env::var("RDKIT_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include/rdkit".into()));
    let lib_dir = env::var("RDKIT_LIB_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        [PathBuf::from(format!("/usr/lib/{arch}-linux-gnu")), PathBuf::from("/usr/lib")]
            .into_iter()
            .find(|d| d.join("libRDKitGraphMol.so").exists())
            .unwrap_or_else(|| PathBuf::from("/usr/lib"))
    });
    cxx_build::bridge("src/rdkit_physchem.rs")
        .file("src/physchem.cc")
        .include(&include)
        .std("c++17")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .compile("pharmforge_admet_physchem");
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    for lib in RDKIT_LIBS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}
