//! The pubchem adapter (being built).
