//! The chembl adapter (being built).
