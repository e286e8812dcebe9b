// pharmforge-chem: a molecule's Bemis–Murcko scaffold, its generic form and
// its ring systems, as RDKit's Python gives them (rdkit.Chem.Scaffolds.
// MurckoScaffold):
// * GetScaffoldForMol(mol) is MurckoDecompose(mol), then on the result
//   ClearComputedProps() (rings included), UpdatePropertyCache() (strict)
//   and GetSymmSSSR(); its SMILES is MolToSmiles with the defaults
//   (canonical, isomeric). An acyclic molecule's scaffold is empty: "".
// * MakeScaffoldGeneric(scaffold) copies it and, for every atom, makes it a
//   carbon (hydrogens stay hydrogens), non-aromatic, isotope 0, charge 0, no
//   chiral tag, implicit Hs allowed and no explicit H count; every bond
//   single and non-aromatic; then RemoveHs (which sanitizes). A scaffold
//   whose generic form is no valid molecule (a ring atom of five or more
//   bonds: a carbon cannot have them) throws there in Python; here that
//   message is returned in generic_error.
// * Ring systems (not in MurckoScaffold.py): the scaffold's rings (RDKit's
//   symmetrized SSSR), those sharing two or more atoms (fused, bridged)
//   joined into one system; spiro rings (one shared atom) stay apart.

#include "pharmforge-chem/include/scaffold.h"
#include "pharmforge-chem/src/scaffold.rs.h"

#include <GraphMol/ChemTransforms/ChemTransforms.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/RWMol.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace pharmforge {

namespace {

std::uint32_t ring_systems(const RDKit::ROMol &mol) {
  const auto &rings = mol.getRingInfo()->atomRings();
  std::vector<std::size_t> parent(rings.size());
  std::iota(parent.begin(), parent.end(), 0);
  auto root = [&](std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  std::uint32_t systems = static_cast<std::uint32_t>(rings.size());
  for (std::size_t i = 0; i < rings.size(); ++i) {
    for (std::size_t j = i + 1; j < rings.size(); ++j) {
      std::size_t shared = 0;
      for (int a : rings[i]) {
        shared += std::count(rings[j].begin(), rings[j].end(), a);
      }
      if (shared < 2) continue;
      std::size_t ri = root(i), rj = root(j);
      if (ri != rj) {
        parent[ri] = rj;
        --systems;
      }
    }
  }
  return systems;
}

}  // namespace

ScaffoldData murcko_scaffold(const RDKit::ROMol &mol) {
  detail::init_once();
  std::unique_ptr<RDKit::ROMol> scaffold(RDKit::MurckoDecompose(mol));
  if (!scaffold) throw std::runtime_error("MurckoDecompose returned no molecule");
  scaffold->clearComputedProps(true);
  scaffold->updatePropertyCache(true);
  RDKit::MolOps::symmetrizeSSSR(*scaffold);

  ScaffoldData out;
  out.scaffold = rust::String(RDKit::MolToSmiles(*scaffold));
  out.ring_systems = ring_systems(*scaffold);

  RDKit::RWMol generic(*scaffold);
  for (auto atom : generic.atoms()) {
    if (atom->getAtomicNum() != 1) atom->setAtomicNum(6);
    atom->setIsAromatic(false);
    atom->setIsotope(0);
    atom->setFormalCharge(0);
    atom->setChiralTag(RDKit::Atom::CHI_UNSPECIFIED);
    atom->setNoImplicit(false);
    atom->setNumExplicitHs(0);
  }
  for (auto bond : generic.bonds()) {
    bond->setBondType(RDKit::Bond::SINGLE);
    bond->setIsAromatic(false);
  }
  try {
    RDKit::MolOps::removeHs(generic);  // implicitOnly false, sanitize true: Chem.RemoveHs
    out.generic = rust::String(RDKit::MolToSmiles(generic));
  } catch (const std::exception &e) {
    out.generic_error = rust::String(e.what());
  }
  return out;
}

}  // namespace pharmforge
