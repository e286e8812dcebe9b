//! ADMET-AI models in Rust (being built).
