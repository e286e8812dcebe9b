// pharmforge-chem: PAINS, Brenk and NIH alert counts, as
// FilterCatalog(catalog).getMatches(mol).size() in RDKit 2022.09, on our
// matcher (include/matcher.h).
//
// Why: ADMET-AI reports these three counts for every molecule. Through
// RDKit's FilterCatalog that is ~770 separate SubstructMatch calls (each
// setting up VF2 and re-matching every recursive SMARTS), about two thirds
// of the ADMET adapter's physchem time. Matched as one QuerySet, the entries
// share each distinct atom query's answer per atom and each recursive
// SMARTS's atom set, and most searches end at their first atom.
//
// What RDKit does, which we reproduce (FilterCatalog.cpp, Filters.cpp,
// FilterCatalogEntry.cpp and FilterMatchers.cpp of 2022.09):
// * FilterCatalog(PAINS) is built from the FilterData_t rows of each single
//   catalog in the flags (PAINS_A, PAINS_B, PAINS_C), lowest bit first; a
//   row whose SMARTS does not parse throws (no entry is ever skipped).
// * Each row becomes MakeFilterCatalogEntry: SmartsToMol(smarts, 0,
//   mergeHs=true) wrapped in SmartsMatcher(name, pattern, minCount =
//   max ? max + 1 : 1) with maxCount UINT_MAX.
// * getMatches(mol) keeps the entries whose hasFilterMatch(mol) is true;
//   SmartsMatcher::hasMatch is SubstructMatch(mol, pattern, MatchVectType&)
//   (one match: maxMatches 1) when minCount is 1 and maxCount UINT_MAX,
//   else count = SubstructMatch(mol, pattern, matches, uniquify=true)
//   (maxMatches 1000) and minCount <= count <= maxCount.
// So we parse the same rows the same way, once per process, and ask our
// matcher (count_with, which asks RDKit where its answer could depend on
// enumeration order) the same questions. filter_alerts_rdkit() is RDKit's
// own getMatches, which the tests compare against.
//
// No screen in front: RDKit's pattern fingerprint (which the admet shim used
// to put before each entry) costs more per molecule than the matcher spends
// on the entries it would have skipped; element presence and the start atom
// with the fewest candidates already end most searches at once.

#include "pharmforge-chem/include/bridge.h"
#include "pharmforge-chem/src/ffi.rs.h"

#include <GraphMol/FilterCatalog/FilterCatalog.h>
#include <GraphMol/SmilesParse/SmilesParse.h>

#include <climits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// RDKit exports the built-in filter sets from libRDKitFilterCatalog but
// Debian's librdkit-dev does not install the header that declares them
// (Filters.h); these declarations are RDKit 2022.09's own.
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

namespace pharmforge {
namespace {

using RDKit::FilterCatalog;
using RDKit::FilterCatalogParams;

// The catalogs counted, in FilterAlertCounts order.
constexpr FilterCatalogParams::FilterCatalogs kCatalogs[] = {
    FilterCatalogParams::PAINS, FilterCatalogParams::BRENK, FilterCatalogParams::NIH};
constexpr std::size_t kNumCatalogs = sizeof(kCatalogs) / sizeof(kCatalogs[0]);

// The rows FilterCatalog(which) is built from, in its entry order.
std::vector<const RDKit::FilterData_t *> catalog_rows(FilterCatalogParams::FilterCatalogs which) {
  std::vector<const RDKit::FilterData_t *> rows;
  const unsigned flags = static_cast<unsigned>(which);
  for (unsigned i = 0; i < sizeof(unsigned) * CHAR_BIT; ++i) {
    const unsigned bit = 1u << i;
    if (!(flags & bit & FilterCatalogParams::ALL)) continue;
    const auto single = static_cast<FilterCatalogParams::FilterCatalogs>(bit);
    const unsigned n = RDKit::GetNumEntries(single);
    const RDKit::FilterData_t *data = RDKit::GetFilterData(single);
    for (unsigned k = 0; k < n; ++k) rows.push_back(&data[k]);
  }
  return rows;
}

// Every entry of the three catalogs as one QuerySet (top-level query i is
// entry i), with what SmartsMatcher needs besides the pattern.
class AlertSet {
 public:
  AlertSet() {
    detail::init_once();  // RDKit's logs off (a parse warning is not ours)
    for (std::size_t c = 0; c < kNumCatalogs; ++c) {
      for (const RDKit::FilterData_t *row : catalog_rows(kCatalogs[c])) {
        // As MakeFilterCatalogEntry parses it: debugParse 0, mergeHs on.
        std::unique_ptr<RDKit::ROMol> pattern(RDKit::SmartsToMol(row->smarts, 0, true));
        if (!pattern) {
          // FilterCatalog itself throws here ("Bad entry in built-in filter
          // catalog"); RDKit's own data never does.
          throw std::runtime_error(std::string("built-in filter SMARTS does not parse: ") + row->name);
        }
        entries_.push_back({static_cast<unsigned>(c), row->max ? row->max + 1 : 1u, UINT_MAX});
        set_.add_owned(std::move(pattern));
      }
    }
  }

  struct Entry {
    unsigned catalog;    // index into kCatalogs
    unsigned min_count;  // SmartsMatcher's d_min_count
    unsigned max_count;  // SmartsMatcher's d_max_count (UINT_MAX: none)
  };

  const QuerySet &set() const { return set_; }
  const std::vector<Entry> &entries() const { return entries_; }

 private:
  QuerySet set_;
  std::vector<Entry> entries_;
};

const AlertSet &alert_set() {
  // Built on first use, thread-safe; immutable afterwards.
  static const AlertSet set;
  return set;
}

const FilterCatalog &rdkit_catalog(std::size_t c) {
  static const FilterCatalog pains(kCatalogs[0]);
  static const FilterCatalog brenk(kCatalogs[1]);
  static const FilterCatalog nih(kCatalogs[2]);
  const FilterCatalog *all[] = {&pains, &brenk, &nih};
  return *all[c];
}

void set_count(FilterAlertCounts &counts, std::size_t c, std::uint32_t n) {
  (c == 0 ? counts.pains : c == 1 ? counts.brenk : counts.nih) = n;
}

}  // namespace

FilterAlertCounts filter_alerts(const RDKit::ROMol &mol) {
  const AlertSet &alerts = alert_set();
  const QuerySet &set = alerts.set();
  Matcher m(set, mol);
  std::uint32_t n[kNumCatalogs] = {};
  const auto &entries = alerts.entries();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const AlertSet::Entry &e = entries[i];
    const int start = m.screen(set.top(i));
    if (start < 0) continue;  // no embedding: no match, count 0
    bool hit;
    if (e.min_count == 1 && e.max_count == UINT_MAX) {
      hit = count_with(m, set, i, true, 1, start) > 0;
    } else {
      const std::uint32_t count = count_with(m, set, i, true, Matcher::kRdkitLimit, start);
      hit = count >= e.min_count && (e.max_count == UINT_MAX || count <= e.max_count);
    }
    if (hit) ++n[e.catalog];
  }
  FilterAlertCounts counts{};
  for (std::size_t c = 0; c < kNumCatalogs; ++c) set_count(counts, c, n[c]);
  return counts;
}

FilterAlertCounts filter_alerts_rdkit(const RDKit::ROMol &mol) {
  FilterAlertCounts counts{};
  for (std::size_t c = 0; c < kNumCatalogs; ++c) {
    set_count(counts, c, static_cast<std::uint32_t>(rdkit_catalog(c).getMatches(mol).size()));
  }
  return counts;
}

FilterAlertStats filter_alert_stats() {
  const AlertSet &alerts = alert_set();
  FilterAlertStats st{};
  for (std::size_t i = 0; i < alerts.entries().size(); ++i) {
    const unsigned c = alerts.entries()[i].catalog;
    st.entries[c] += 1;
    if (alerts.set().query(alerts.set().top(i)).supported) st.modelled[c] += 1;
    if (alerts.entries()[i].min_count != 1) st.counted[c] += 1;
  }
  // Our entries are RDKit's, in its order and with its names.
  for (std::size_t c = 0; c < kNumCatalogs; ++c) {
    const FilterCatalog &catalog = rdkit_catalog(c);
    const auto rows = catalog_rows(kCatalogs[c]);
    if (catalog.getNumEntries() != rows.size() || rows.size() != st.entries[c]) {
      throw std::logic_error("filter catalog size differs from its rows");
    }
    for (unsigned k = 0; k < rows.size(); ++k) {
      if (catalog.getEntryWithIdx(k)->getDescription() != rows[k]->name) {
        throw std::logic_error(std::string("filter catalog entry ") + std::to_string(k) +
                               " is not row " + rows[k]->name);
      }
    }
  }
  return st;
}

}  // namespace pharmforge
