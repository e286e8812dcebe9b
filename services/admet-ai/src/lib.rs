//! The admet_ai adapter (being built).
