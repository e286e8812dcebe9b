// pharmforge-chem: Bemis–Murcko scaffolds (src/scaffold.cc, bridged by
// src/scaffold.rs). Includes bridge.h for ROMol and the exception hook.
#pragma once

#include "pharmforge-chem/include/bridge.h"

namespace pharmforge {

struct ScaffoldData;

ScaffoldData murcko_scaffold(const RDKit::ROMol &mol);

}  // namespace pharmforge
