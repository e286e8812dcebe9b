// See include/physchem.h. One function: parse the SMILES as
// Chem.MolFromSmiles does, then compute what admet_ai/physchem.py computes.
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
#include <GraphMol/Fingerprints/Fingerprints.h>
#include <DataStructs/BitOps.h>
#include <DataStructs/ExplicitBitVect.h>

#include <memory>
#include <vector>
#include <stdexcept>
#include <string>

// RDKit exports the built-in filter sets from libRDKitFilterCatalog but
// does not install the header that declares them (Filters.h); these
// declarations match RDKit's own (FilterData_t has had this layout since the
// catalogs were added).
namespace RDKit {
struct FilterData_t {
  const char *name;
  const char *smarts;
  unsigned int max;
  const char *comment;
};
unsigned int GetNumEntries(FilterCatalogParams::FilterCatalogs catalog);
const FilterData_t *GetFilterData(FilterCatalogParams::FilterCatalogs catalog);
}  // namespace RDKit

namespace {
using RDKit::FilterCatalog;
using RDKit::FilterCatalogParams;

// One of RDKit's filter catalogs with a substructure screen in front of it.
// FilterCatalog::getMatches runs every entry's SMARTS search (about 770 for
// PAINS + Brenk + NIH, ~5 ms per drug-sized molecule), although nearly all
// of them fail. An entry can only match a molecule whose pattern fingerprint
// (RDKit's substructure-screening fingerprint, the one SubstructLibrary
// screens with) holds every bit of the entry's pattern fingerprint; entries
// that fail that test are skipped. Entries that do pass are still decided by
// RDKit's own matcher, so the count is getMatches().size() exactly; the
// golden and screening tests compare the two on every molecule we have.
class ScreenedCatalog {
 public:
  explicit ScreenedCatalog(FilterCatalogParams::FilterCatalogs which) : catalog_(which) {
    // The catalog is built from GetFilterData of each single catalog in its
    // flags (PAINS is PAINS_A | PAINS_B | PAINS_C), lowest bit first, in
    // order, skipping a SMARTS that fails to parse: walk the entries and those
    // rows in step, and screen an entry only when its name is that of the row
    // it was built from.
    std::vector<const RDKit::FilterData_t *> rows;
    for (unsigned bit = 1; bit != 0 && bit <= static_cast<unsigned>(which); bit <<= 1) {
      if (!(static_cast<unsigned>(which) & bit)) continue;
      auto single = static_cast<FilterCatalogParams::FilterCatalogs>(bit);
      const RDKit::FilterData_t *data = RDKit::GetFilterData(single);
      for (unsigned i = 0, n = RDKit::GetNumEntries(single); i < n; ++i) rows.push_back(&data[i]);
    }
    const unsigned n_data = rows.size();
    unsigned row = 0;
    for (unsigned i = 0; i < catalog_.getNumEntries(); ++i) {
      Entry e{catalog_.getEntryWithIdx(i), nullptr};
      std::unique_ptr<RDKit::RWMol> pattern;
      while (row < n_data && !pattern) {
        // As MakeFilterCatalogEntry parses it (mergeHs on).
        pattern.reset(RDKit::SmartsToMol(rows[row]->smarts, 0, true));
        if (!pattern) ++row;
      }
      if (pattern && e.entry->getDescription() == rows[row]->name) {
        pattern->updatePropertyCache(false);
        RDKit::MolOps::fastFindRings(*pattern);
        e.screen.reset(RDKit::PatternFingerprintMol(*pattern, kFingerprintBits));
        ++screened_;
      }
      ++row;
      entries_.push_back(std::move(e));
    }
  }

  unsigned count_matches(const RDKit::ROMol &mol, const ExplicitBitVect &mol_fp) const {
    unsigned n = 0;
    for (const auto &e : entries_) {
      if (e.screen && !AllProbeBitsMatch(*e.screen, mol_fp)) continue;
      if (e.entry->hasFilterMatch(mol)) ++n;
    }
    return n;
  }

  unsigned count_matches_unscreened(const RDKit::ROMol &mol) const {
    return catalog_.getMatches(mol).size();
  }

  unsigned screened() const { return screened_; }
  unsigned size() const { return entries_.size(); }

  static constexpr unsigned kFingerprintBits = 2048;

 private:
  struct Entry {
    const RDKit::FilterCatalogEntry *entry;
    std::unique_ptr<ExplicitBitVect> screen;
  };
  FilterCatalog catalog_;
  std::vector<Entry> entries_;
  unsigned screened_ = 0;
};

const ScreenedCatalog &catalog(FilterCatalogParams::FilterCatalogs which) {
  // Function-local statics: built once, thread-safe initialisation; matching
  // is const and safe to call concurrently.
  static const ScreenedCatalog pains(FilterCatalogParams::PAINS);
  static const ScreenedCatalog brenk(FilterCatalogParams::BRENK);
  static const ScreenedCatalog nih(FilterCatalogParams::NIH);
  switch (which) {
    case FilterCatalogParams::PAINS: return pains;
    case FilterCatalogParams::BRENK: return brenk;
    default: return nih;
  }
}

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

PhyschemData admet_physchem(rust::Str smiles) {
  // Callers parse with pharmforge-chem first, which has set RDKit's logs up
  // (nothing to stderr); this parse then succeeds the same way.
  std::string s(smiles.data(), smiles.size());
  std::unique_ptr<RDKit::RWMol> mol;
  try {
    mol.reset(RDKit::SmilesToMol(s));
  } catch (const std::exception &e) {
    throw std::runtime_error(std::string("invalid SMILES: ") + e.what());
  }
  if (!mol) throw std::runtime_error("invalid SMILES");
  PhyschemData d{};
  d.molecular_weight = RDKit::Descriptors::calcAMW(*mol);
  d.logp = RDKit::Descriptors::calcClogP(*mol);
  d.hba = count_hba(*mol);
  d.hbd = RDKit::Descriptors::calcNumHBD(*mol);
  d.tpsa = RDKit::Descriptors::calcTPSA(*mol);
  d.stereo_centers = count_stereo_centers(*mol);
  std::unique_ptr<ExplicitBitVect> fp(
      RDKit::PatternFingerprintMol(*mol, ScreenedCatalog::kFingerprintBits));
  d.pains = catalog(FilterCatalogParams::PAINS).count_matches(*mol, *fp);
  d.brenk = catalog(FilterCatalogParams::BRENK).count_matches(*mol, *fp);
  d.nih = catalog(FilterCatalogParams::NIH).count_matches(*mol, *fp);
  return d;
}

FilterCounts admet_filter_counts_unscreened(rust::Str smiles) {
  std::string s(smiles.data(), smiles.size());
  std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol(s));
  if (!mol) throw std::runtime_error("invalid SMILES");
  FilterCounts c{};
  c.pains = catalog(FilterCatalogParams::PAINS).count_matches_unscreened(*mol);
  c.brenk = catalog(FilterCatalogParams::BRENK).count_matches_unscreened(*mol);
  c.nih = catalog(FilterCatalogParams::NIH).count_matches_unscreened(*mol);
  return c;
}

FilterScreenStats admet_filter_screen_stats() {
  FilterScreenStats st{};
  for (auto which : {FilterCatalogParams::PAINS, FilterCatalogParams::BRENK, FilterCatalogParams::NIH}) {
    st.entries += catalog(which).size();
    st.screened += catalog(which).screened();
  }
  return st;
}
