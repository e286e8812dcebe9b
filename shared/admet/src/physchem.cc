// See include/physchem.h. One function: on the molecule pharmforge-chem
// parsed (as Chem.MolFromSmiles does), compute what admet_ai/physchem.py computes,
// but for QED and the PAINS, Brenk and NIH alert counts, which
// pharmforge-chem computes on the molecule the caller has parsed already
// (Molecule::qed, Molecule::filter_alerts). The alert counts by RDKit's own
// FilterCatalog stay here for the test that compares the two.
#include "pharmforge-admet/include/physchem.h"
#include "pharmforge-admet/src/rdkit_physchem.rs.h"

#include <GraphMol/GraphMol.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <GraphMol/Descriptors/MolDescriptors.h>
#include <GraphMol/Descriptors/Crippen.h>
#include <GraphMol/Descriptors/Lipinski.h>
#include <GraphMol/Descriptors/MolSurf.h>
#include <GraphMol/FilterCatalog/FilterCatalog.h>
#include <GraphMol/Chirality.h>
#include <GraphMol/Substruct/SubstructMatch.h>

#include <memory>
#include <vector>
#include <stdexcept>
#include <string>

namespace {
using RDKit::FilterCatalog;
using RDKit::FilterCatalogParams;

// rdMolDescriptors.CalcNumHBA as RDKit releases since the package's
// reference (NumHBA version 2.0.2) define it: aromatic nitrogen counts only
// when two-connected (nH0X2). Debian's 2022.09 still has 2.0.1 ([nH0,...]).
const char *const HBA_SMARTS =
    "[$([O,S;H1;v2]-[!$(*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,S;-]),$("
    "[N;v3;!$(N-*=!@[O,N,P,S])]),$([nH0X2,o,s;+0])]";

unsigned count_hba(const RDKit::ROMol &mol) {
  // Recursive SMARTS queries are not thread-safe: one pattern per thread.
  thread_local std::unique_ptr<RDKit::RWMol> pattern(RDKit::SmartsToMol(HBA_SMARTS));
  std::vector<RDKit::MatchVectType> matches;
  return RDKit::SubstructMatch(mol, *pattern, matches);
}

// CalcNumAtomStereoCenters as in RDKit 2022.09 (legacy perception), except
// that planar (not SP3) three-coordinate nitrogens are not counted: later
// releases no longer flag bridgehead amide-like nitrogens as possible
// centres, and the package's reference values come from such a release.
unsigned count_stereo_centers(const RDKit::ROMol &mol) {
  RDKit::ROMol copy(mol);
  RDKit::MolOps::assignStereochemistry(copy, true, true, true);
  unsigned n = 0;
  for (const auto atom : copy.atoms()) {
    if (!atom->hasProp(RDKit::common_properties::_ChiralityPossible)) continue;
    if (atom->getAtomicNum() == 7 && atom->getDegree() == 3 &&
        atom->getHybridization() != RDKit::Atom::SP3) continue;
    ++n;
  }
  return n;
}

}  // namespace

PhyschemData admet_physchem(const RDKit::ROMol &mol, bool descriptors) {
  // `mol` is Molecule::from_smiles's parse: SmilesToMol with its defaults
  // (the reuse and golden tests hold the values to RDKit's).
  PhyschemData d{};
  if (descriptors) {
    d.molecular_weight = RDKit::Descriptors::calcAMW(mol);
    d.logp = RDKit::Descriptors::calcClogP(mol);
    d.hba = count_hba(mol);
    d.hbd = RDKit::Descriptors::calcNumHBD(mol);
    d.tpsa = RDKit::Descriptors::calcTPSA(mol);
  }
  d.stereo_centers = count_stereo_centers(mol);
  // The PAINS, Brenk and NIH counts are pharmforge-chem's
  // Molecule::filter_alerts (Physchem::compute).
  return d;
}

FilterCounts admet_filter_counts_rdkit(rust::Str smiles) {
  // As admet_ai/physchem.py: FilterCatalog(params).GetMatches(mol) per
  // catalog, on a molecule of our own parse. Function-local statics: built
  // once, thread-safe initialisation; getMatches is const.
  static const FilterCatalog pains(FilterCatalogParams::PAINS);
  static const FilterCatalog brenk(FilterCatalogParams::BRENK);
  static const FilterCatalog nih(FilterCatalogParams::NIH);
  std::string s(smiles.data(), smiles.size());
  std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol(s));
  if (!mol) throw std::runtime_error("invalid SMILES");
  FilterCounts c{};
  c.pains = pains.getMatches(*mol).size();
  c.brenk = brenk.getMatches(*mol).size();
  c.nih = nih.getMatches(*mol).size();
  return c;
}
