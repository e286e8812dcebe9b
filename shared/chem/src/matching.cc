// pharmforge-chem: SMARTS query sets and substructure matching over RDKit.
//
// Why this file exists: QED checks 116 structural alerts and 11 acceptor
// patterns per molecule and Crippen logP up to ~110 atom-type patterns; run
// as plain RDKit SubstructMatch calls they are most of the per-molecule cost,
// although almost none of them match. So before the full (VF2) search we do
// an exact-in-effect pre-check that only ever skips searches that cannot
// match: every non-recursive query atom must have a compatible atom in the
// molecule (elements first, then RDKit's own Atom::Match), and every bond
// between two such atoms a compatible bond. Candidate atoms are computed
// once per distinct atom query (keyed by its SMARTS) per molecule and set.
// The search itself, when it runs, is RDKit's SubstructMatch with the same
// parameters as before, so results are RDKit's.
//
// Thread safety: a QuerySet is immutable once built; matching only calls
// const methods on its query molecules. The one thing RDKit mutates inside a
// query during SubstructMatch is the match cache of recursive SMARTS, which
// RDK_BUILD_THREADSAFE_SSS builds guard with a mutex per recursive query.

#include "pharmforge-chem/include/bridge.h"
#include "pharmforge-chem/src/ffi.rs.h"

#include <GraphMol/ChemTransforms/ChemTransforms.h>
#include <GraphMol/Descriptors/Crippen.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/QueryAtom.h>
#include <GraphMol/QueryBond.h>
#include <GraphMol/SmilesParse/SmartsWrite.h>
#include <GraphMol/Substruct/SubstructMatch.h>
#include <RDGeneral/RDConfig.h>

#include <unordered_map>

#ifndef RDK_BUILD_THREADSAFE_SSS
#error "pharmforge-chem needs an RDKit built with RDK_BUILD_THREADSAFE_SSS"
#endif

namespace pharmforge {
namespace {

using AtomQuery = RDKit::QueryAtom::QUERYATOM_QUERY;
constexpr Elements kAllElements = {~0ULL, ~0ULL};

Elements element_bit(int atomic_num) {
  Elements e = {0, 0};
  if (atomic_num >= 0 && atomic_num < 128) e[atomic_num / 64] |= 1ULL << (atomic_num % 64);
  return e;
}

bool has_recursion(const AtomQuery *q) {
  if (!q) return false;
  if (q->getDescription() == "RecursiveStructure") return true;
  for (auto it = q->beginChildren(); it != q->endChildren(); ++it) {
    if (has_recursion(it->get())) return true;
  }
  return false;
}

// A superset of the atomic numbers an atom query can match: exact for
// element queries and AND/OR combinations of them, "all" for anything else.
Elements allowed_elements(const AtomQuery *q) {
  if (!q || q->getNegation()) return kAllElements;
  const std::string &d = q->getDescription();
  if (d == "AtomAtomicNum" || d == "AtomType") {
    auto *eq = dynamic_cast<const RDKit::ATOM_EQUALS_QUERY *>(q);
    if (!eq || eq->getTol() != 0) return kAllElements;
    // AtomType values are the atomic number, plus 1000 if aromatic.
    return element_bit(d == "AtomType" ? eq->getVal() % 1000 : eq->getVal());
  }
  const bool is_or = d == "AtomOr", is_and = d == "AtomAnd";
  if (!is_or && !is_and) return kAllElements;
  Elements e = is_or ? Elements{0, 0} : kAllElements;
  for (auto it = q->beginChildren(); it != q->endChildren(); ++it) {
    Elements c = allowed_elements(it->get());
    for (int w = 0; w < 2; ++w) e[w] = is_or ? (e[w] | c[w]) : (e[w] & c[w]);
  }
  return e;
}

// Pre-check state for one molecule against one QuerySet.
class SetMatcher {
 public:
  SetMatcher(const QuerySet &set, const RDKit::ROMol &target)
      : set_(set), target_(target), n_(target.getNumAtoms()),
        rows_(set.num_keys()) {
    if (!target.getRingInfo()->isInitialized()) RDKit::MolOps::findSSSR(target);
    for (const auto atom : target.atoms()) {
      Elements b = element_bit(atom->getAtomicNum());
      present_[0] |= b[0];
      present_[1] |= b[1];
    }
  }

  // Target atoms compatible with distinct atom query `key` (computed once).
  const std::vector<char> &row(int key) {
    std::vector<char> &r = rows_[key];
    if (r.empty() && n_) {
      r.assign(n_, 0);
      const RDKit::Atom *qa = set_.key_atom(key);
      for (const auto ta : target_.atoms()) r[ta->getIdx()] = qa->Match(ta);
    }
    return r;
  }

  // false only if query i certainly has no match in the target.
  bool could_match(std::size_t i) {
    const QuerySet::Entry &e = set_.entry(i);
    if (e.mol->getNumAtoms() > n_) return false;
    for (const Elements &el : e.elements) {
      if (!(el[0] & present_[0]) && !(el[1] & present_[1])) return false;
    }
    for (int key : e.atom_keys) {
      if (key < 0) continue;
      const auto &r = row(key);
      if (std::find(r.begin(), r.end(), 1) == r.end()) return false;
    }
    for (unsigned b : e.plain_bonds) {
      const RDKit::Bond *qb = e.mol->getBondWithIdx(b);
      const auto &ra = row(e.atom_keys[qb->getBeginAtomIdx()]);
      const auto &rb = row(e.atom_keys[qb->getEndAtomIdx()]);
      bool any = false;
      for (const auto tb : target_.bonds()) {
        const unsigned u = tb->getBeginAtomIdx(), v = tb->getEndAtomIdx();
        if (((ra[u] && rb[v]) || (ra[v] && rb[u])) && qb->Match(tb)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    return true;
  }

 private:
  const QuerySet &set_;
  const RDKit::ROMol &target_;
  unsigned n_;
  Elements present_ = {0, 0};
  std::vector<std::vector<char>> rows_;
};

std::vector<RDKit::MatchVectType> substruct(const RDKit::ROMol &mol,
                                            const RDKit::ROMol &query,
                                            bool uniquify, unsigned max_matches) {
  RDKit::SubstructMatchParameters params;
  params.uniquify = uniquify;
  params.maxMatches = max_matches;
  return RDKit::SubstructMatch(mol, query, params);
}

void check_index(const QuerySet &set, std::uint32_t i) {
  if (i >= set.size()) throw std::out_of_range("query index out of range");
}

}  // namespace

// ------------------------------------------------------------- query sets --

void QuerySet::add_borrowed(const RDKit::ROMol *query) {
  Entry e;
  e.mol = query;
  std::vector<bool> plain(query->getNumAtoms(), false);
  for (const auto atom : query->atoms()) {
    const AtomQuery *q = atom->hasQuery() ? atom->getQuery() : nullptr;
    if (q && has_recursion(q)) {
      // Match() of a recursive query is only valid inside SubstructMatch.
      e.atom_keys.push_back(-1);
      e.elements.push_back(kAllElements);
      continue;
    }
    plain[atom->getIdx()] = true;
    std::string smarts = RDKit::SmartsWrite::GetAtomSmarts(atom);
    int key = -1;
    for (std::size_t k = 0; k < key_smarts_.size() && key < 0; ++k) {
      if (key_smarts_[k] == smarts) key = static_cast<int>(k);
    }
    if (key < 0) {
      key = static_cast<int>(key_atoms_.size());
      key_atoms_.push_back(atom);
      key_smarts_.push_back(std::move(smarts));
    }
    e.atom_keys.push_back(key);
    e.elements.push_back(q ? allowed_elements(q) : element_bit(atom->getAtomicNum()));
  }
  for (const auto bond : query->bonds()) {
    if (plain[bond->getBeginAtomIdx()] && plain[bond->getEndAtomIdx()]) {
      e.plain_bonds.push_back(bond->getIdx());
    }
  }
  entries_.push_back(std::move(e));
}

void QuerySet::add_owned(std::unique_ptr<RDKit::ROMol> query) {
  add_borrowed(query.get());
  owned_.push_back(std::move(query));
}

std::unique_ptr<QuerySet> query_set_from_smarts(rust::Slice<const rust::Str> smarts) {
  auto set = std::make_unique<QuerySet>();
  for (const rust::Str s : smarts) {
    set->add_owned(detail::smarts_to_mol(std::string(s.data(), s.size())));
  }
  return set;
}

std::uint32_t query_set_len(const QuerySet &set) {
  return static_cast<std::uint32_t>(set.size());
}

std::uint32_t query_num_atoms(const QuerySet &set, std::uint32_t i) {
  check_index(set, i);
  return set.mol(i).getNumAtoms();
}

// -------------------------------------------------------------- matching --

std::uint32_t count_matches(const RDKit::ROMol &mol, const QuerySet &set,
                            std::uint32_t i, bool uniquify,
                            std::uint32_t max_matches) {
  check_index(set, i);
  SetMatcher m(set, mol);
  if (!m.could_match(i)) return 0;
  return static_cast<std::uint32_t>(
      substruct(mol, set.mol(i), uniquify, max_matches).size());
}

std::uint32_t count_matches_unfiltered(const RDKit::ROMol &mol, const QuerySet &set,
                                       std::uint32_t i, bool uniquify,
                                       std::uint32_t max_matches) {
  check_index(set, i);
  return static_cast<std::uint32_t>(
      substruct(mol, set.mol(i), uniquify, max_matches).size());
}

bool has_match(const RDKit::ROMol &mol, const QuerySet &set, std::uint32_t i) {
  check_index(set, i);
  SetMatcher m(set, mol);
  return m.could_match(i) && !substruct(mol, set.mol(i), true, 1).empty();
}

std::uint32_t count_queries_matching(const RDKit::ROMol &mol, const QuerySet &set) {
  SetMatcher m(set, mol);
  std::uint32_t n = 0;
  for (std::size_t i = 0; i < set.size(); ++i) {
    if (m.could_match(i) && !substruct(mol, set.mol(i), true, 1).empty()) ++n;
  }
  return n;
}

std::uint32_t sum_match_counts(const RDKit::ROMol &mol, const QuerySet &set,
                               bool uniquify, std::uint32_t max_matches) {
  SetMatcher m(set, mol);
  std::uint32_t n = 0;
  for (std::size_t i = 0; i < set.size(); ++i) {
    if (m.could_match(i)) {
      n += static_cast<std::uint32_t>(
          substruct(mol, set.mol(i), uniquify, max_matches).size());
    }
  }
  return n;
}

std::uint32_t sssr_count_after_delete(const RDKit::ROMol &mol,
                                      const QuerySet &set, std::uint32_t i) {
  check_index(set, i);
  std::unique_ptr<RDKit::ROMol> stripped(RDKit::deleteSubstructs(mol, set.mol(i)));
  RDKit::VECT_INT_VECT rings;
  return static_cast<std::uint32_t>(RDKit::MolOps::findSSSR(*stripped, rings));
}

// ---------------------------------------------------------------- Crippen --

// Wildman-Crippen logP and MR exactly as RDKit's calcCrippenDescriptors:
// add Hs; each atom takes the contributions of the first parameter (in
// parameter order) whose SMARTS matches with that atom as match[0], using the
// same SubstructMatch call (uniquify=false); sum in atom order. A parameter
// is skipped, without changing the result, when its first atom matches no
// still-untyped atom or the pre-check rules the pattern out.
void detail::crippen_logp_mr(const RDKit::ROMol &mol, double &logp, double &mr) {
  struct Params {
    QuerySet set;
    std::vector<double> logp, mr;
  };
  static const Params *params = [] {
    auto *p = new Params();  // leaked: lives as long as RDKit's own table
    for (const auto &c : *RDKit::Descriptors::CrippenParamCollection::getParams()) {
      p->set.add_borrowed(c.dp_pattern.get());
      p->logp.push_back(c.logp);
      p->mr.push_back(c.mr);
    }
    return p;
  }();

  std::unique_ptr<RDKit::ROMol> work(RDKit::MolOps::addHs(mol, false, false));
  const unsigned n = work->getNumAtoms();
  std::vector<double> logp_contribs(n, 0.0), mr_contribs(n, 0.0);
  std::vector<char> needed(n, 1);
  unsigned remaining = n;
  SetMatcher matcher(params->set, *work);
  for (std::size_t i = 0; i < params->set.size() && remaining; ++i) {
    const int key0 = params->set.entry(i).atom_keys.empty()
                         ? -1
                         : params->set.entry(i).atom_keys[0];
    if (key0 >= 0) {
      const auto &r = matcher.row(key0);
      bool possible = false;
      for (unsigned a = 0; a < n && !possible; ++a) possible = needed[a] && r[a];
      if (!possible) continue;
    }
    if (!matcher.could_match(i)) continue;
    std::vector<RDKit::MatchVectType> matches;
    RDKit::SubstructMatch(*work, params->set.mol(i), matches, false, true);
    for (const auto &match : matches) {
      const int idx = match[0].second;
      if (needed[idx]) {
        needed[idx] = 0;
        --remaining;
        logp_contribs[idx] = params->logp[i];
        mr_contribs[idx] = params->mr[i];
      }
    }
  }
  logp = 0.0;
  for (double v : logp_contribs) logp += v;
  mr = 0.0;
  for (double v : mr_contribs) mr += v;
}

}  // namespace pharmforge
