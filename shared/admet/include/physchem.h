// Physicochemical columns of ADMET-AI (admet_ai/physchem.py), on the system
// RDKit C++ library: the same RDKit functions the package calls.
#pragma once
#include "rust/cxx.h"
#include <cstdint>

struct PhyschemData;

PhyschemData admet_physchem(rust::Str smiles);
struct FilterCounts;
struct FilterScreenStats;

// PAINS, Brenk and NIH counts by RDKit's FilterCatalog::getMatches alone,
// without the substructure screen admet_physchem puts in front of it: for
// the test that the screen changes nothing.
FilterCounts admet_filter_counts_unscreened(rust::Str smiles);
// How many catalog entries there are and how many have a screen.
FilterScreenStats admet_filter_screen_stats();
