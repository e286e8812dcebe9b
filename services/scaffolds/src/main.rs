use pharmforge_core::serve::{cores_available, serve_adapter, AdapterMain};
use pharmforge_core::AdapterName;

/// mimalloc for Rust and RDKit's C++ alike, as in rdkit-local.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let main = AdapterMain {
        adapter: AdapterName::Scaffolds,
        about: "the scaffolds adapter: each compound's Bemis–Murcko scaffold, generic scaffold and ring systems (RDKit)",
        batch: 64,
        concurrency: cores_available(),
        concurrency_shown: "the cores available",
        vars: Vec::new(),
    };
    serve_adapter(main, || Ok(pharmforge_scaffolds::Scaffolds::new()), |adapter, _, _, _| async { Some(adapter) }).await
}
