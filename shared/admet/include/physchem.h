// Physicochemical columns of ADMET-AI (admet_ai/physchem.py), on the system
// RDKit C++ library: the same RDKit functions the package calls.
#pragma once
#include "rust/cxx.h"
#include <cstdint>

struct PhyschemData;

PhyschemData admet_physchem(rust::Str smiles);
