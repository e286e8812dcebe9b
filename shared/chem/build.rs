//! Builds the C++ side of the bridge (`src/bridge.cc`) against the system RDKit
//! and tells rustc which RDKit shared libraries to link.
//!
//! Defaults match Debian's `librdkit-dev` (headers in /usr/include/rdkit,
//! libraries in /usr/lib or /usr/lib/<multiarch>); `RDKIT_INCLUDE_DIR` and
//! `RDKIT_LIB_DIR` override them for other installs (e.g. a conda RDKit).

use std::env;
use std::path::{Path, PathBuf};

/// Only the libraries whose symbols the shim calls directly; their own
/// dependencies (RingDecomposerLib, RDGeometryLib, ...) come in through DT_NEEDED.
const RDKIT_LIBS: &[&str] = &[
    "RDKitSmilesParse",    // SmilesToMol, SmartsToMol, MolToSmiles
    "RDKitFileParsers",    // MolToMolBlock, MolBlockToMol, SDWriter, SDMolSupplier
    "RDKitDepictor",       // compute2DCoords
    "RDKitMolDraw2D",      // MolDraw2DSVG
    "RDKitGraphMol",       // ROMol, MolOps, Chirality::findPotentialStereo
    "RDKitDescriptors",    // Crippen, TPSA, Lipinski, formula, weights
    "RDKitSubstructMatch", // SubstructMatch
    "RDKitChemTransforms", // deleteSubstructs (QED aromatic-ring count)
    "RDKitFilterCatalog",  // GetFilterData (PAINS/Brenk/NIH rows), FilterCatalog
    "RDKitCatalogs",       // FilterCatalog's base classes
    "RDKitRDGeneral",      // rdkitVersion, logging
];

fn find_lib_dir() -> PathBuf {
    if let Ok(dir) = env::var("RDKIT_LIB_DIR") {
        return PathBuf::from(dir);
    }
    let mut candidates = vec![PathBuf::from("/usr/lib")];
    if let Ok(arch) = env::var("CARGO_CFG_TARGET_ARCH") {
        candidates.insert(0, PathBuf::from(format!("/usr/lib/{arch}-linux-gnu")));
    }
    candidates.into_iter().find(|d| d.join("libRDKitGraphMol.so").exists()).unwrap_or_else(|| PathBuf::from("/usr/lib"))
}

fn main() {
    println!("cargo:rerun-if-env-changed=RDKIT_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=RDKIT_LIB_DIR");
    // Bemis–Murcko scaffolds: their own bridge (src/scaffold.rs, .cc, include/scaffold.h).
    for f in ["src/scaffold.rs", "src/scaffold.cc", "include/scaffold.h"] {
        println!("cargo:rerun-if-changed={f}");
    }
    for f in [
        "src/ffi.rs",
        "src/bridge.cc",
        "src/matching.cc",
        "src/crippen.cc",
        "src/inchi_input.cc",
        "src/depict.cc",
        "src/filters.cc",
        "include/bridge.h",
        "include/matcher.h",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }

    let include = PathBuf::from(env::var("RDKIT_INCLUDE_DIR").unwrap_or_else(|_| "/usr/include/rdkit".into()));
    if !Path::new(&include).join("GraphMol/ROMol.h").exists() {
        println!("cargo:warning=RDKit headers not found in {} (install librdkit-dev or set RDKIT_INCLUDE_DIR)", include.display());
    }
    let lib_dir = find_lib_dir();

    cxx_build::bridges(["src/ffi.rs", "src/scaffold.rs"])
        .file("src/bridge.cc")
        .file("src/matching.cc")
        .file("src/crippen.cc")
        .file("src/inchi_input.cc")
        .file("src/depict.cc")
        .file("src/filters.cc")
        .file("src/scaffold.cc")
        .include(&include)
        .std("c++17")
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .flag_if_supported("-Wno-unused-variable")
        .compile("pharmforge_chem_bridge");

    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    for lib in RDKIT_LIBS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
}
