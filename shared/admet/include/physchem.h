// Physicochemical columns of ADMET-AI (admet_ai/physchem.py), on the system
// RDKit C++ library: the same RDKit functions the package calls (QED and the
// alert counts come from pharmforge-chem).
#pragma once
#include "rust/cxx.h"
#include <GraphMol/ROMol.h>
#include <cstdint>

struct PhyschemData;

// The stereo centres, and with `descriptors` the other columns (without it
// they are 0: the caller has rdkit_local's values), of a molecule
// pharmforge-chem parsed (as Chem.MolFromSmiles does).
PhyschemData admet_physchem(const RDKit::ROMol &mol, bool descriptors);
struct FilterCounts;

// PAINS, Brenk and NIH counts by RDKit's FilterCatalog::getMatches, on a
// molecule parsed here: for the test that pharmforge-chem's
// Molecule::filter_alerts (what Physchem::compute reports) equals them.
FilterCounts admet_filter_counts_rdkit(rust::Str smiles);
