//! `sqlx::migrate!` embeds `migrations/` at compile time, but on stable Rust
//! it cannot tell cargo that it read the folder: without this, a new
//! migration (a section's column: README, "Adding an adapter") would be left
//! out of the aggregator until something else in this crate changed.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
