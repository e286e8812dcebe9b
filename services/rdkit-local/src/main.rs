use pharmforge_core::serve::{cores_available, serve_adapter, AdapterMain};
use pharmforge_core::AdapterName;

/// mimalloc for Rust and, through its `override` feature, for RDKit's C++
/// and the InChI library too (they allocate per atom and per bond).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let main = AdapterMain {
        adapter: AdapterName::RdkitLocal,
        about: "the rdkit_local adapter: RDKit descriptors, identifiers and QED for each compound",
        batch: 64,
        concurrency: cores_available(),
        concurrency_shown: "the cores available",
        vars: Vec::new(),
    };
    serve_adapter(main, || Ok(pharmforge_rdkit_local::RdkitLocal::new()), |adapter, _, _, _| async { Some(adapter) }).await
}
