// pharmforge-chem: SMARTS query sets and substructure matching over RDKit.
//
// Why this file exists: see include/matcher.h. In short, the per-molecule
// pattern work (QED alerts and acceptors, HBA, rotatable bonds, Crippen
// atom types) is done by a small backtracking matcher that finds exactly the
// embeddings RDKit's SubstructMatch defines, sharing atom-query answers and
// recursive-SMARTS atom sets across all patterns of a set; RDKit itself is
// asked whenever its answer could depend on the order in which it stops
// enumerating (the 1000-embedding limit) or the query is one we don't model.
//
// Thread safety: a QuerySet is immutable once built; matching calls only
// const methods of its query molecules (Atom::Match, Bond::Match on leaves
// without recursion) and keeps every per-molecule result in the Matcher.
// Unlike RDKit's SubstructMatch we never fill the recursive queries' own
// match caches, so patterns with `$(...)` need no lock. When we do fall back
// to SubstructMatch, RDK_BUILD_THREADSAFE_SSS builds guard those caches with
// a mutex per recursive query.

#include "pharmforge-chem/include/bridge.h"
#include "pharmforge-chem/src/ffi.rs.h"

#include <GraphMol/ChemTransforms/ChemTransforms.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/RWMol.h>
#include <GraphMol/QueryBond.h>
#include <GraphMol/QueryOps.h>
#include <GraphMol/SmilesParse/SmartsWrite.h>
#include <GraphMol/Substruct/SubstructMatch.h>
#include <Query/AndQuery.h>
#include <Query/OrQuery.h>
#include <RDGeneral/RDConfig.h>

#include <algorithm>

#ifndef RDK_BUILD_THREADSAFE_SSS
#error "pharmforge-chem needs an RDKit built with RDK_BUILD_THREADSAFE_SSS"
#endif

namespace pharmforge {
namespace {

using AndQ = Queries::AndQuery<int, const RDKit::Atom *, true>;
using OrQ = Queries::OrQuery<int, const RDKit::Atom *, true>;
constexpr Elements kAllElements = {~0ULL, ~0ULL};

Elements element_bit(int atomic_num) {
  Elements e = {0, 0};
  if (atomic_num >= 0 && atomic_num < 128) e[atomic_num / 64] |= 1ULL << (atomic_num % 64);
  return e;
}

bool has_recursion(const AtomQuery *q) {
  if (!q) return false;
  if (dynamic_cast<const RDKit::RecursiveStructureQuery *>(q)) return true;
  for (auto it = q->beginChildren(); it != q->endChildren(); ++it) {
    if (has_recursion(it->get())) return true;
  }
  return false;
}

// A superset of the atomic numbers an atom query can match: exact for
// element queries and AND/OR combinations of them, those of the first atom
// of a recursive SMARTS (the atom it accepts is that atom's image), "all"
// for anything else.
Elements allowed_elements(const AtomQuery *q) {
  if (!q || q->getNegation()) return kAllElements;
  if (auto *r = dynamic_cast<const RDKit::RecursiveStructureQuery *>(q)) {
    const RDKit::ROMol *inner = r->getQueryMol();
    if (!inner || !inner->getNumAtoms() || inner->hasProp(RDKit::common_properties::_queryRootAtom)) {
      return kAllElements;
    }
    const RDKit::Atom *root = inner->getAtomWithIdx(0);
    return root->hasQuery() ? allowed_elements(root->getQuery()) : element_bit(root->getAtomicNum());
  }
  const std::string &d = q->getDescription();
  if (d == "AtomAtomicNum" || d == "AtomType") {
    auto *eq = dynamic_cast<const RDKit::ATOM_EQUALS_QUERY *>(q);
    if (!eq || eq->getTol() != 0) return kAllElements;
    // AtomType values are the atomic number, plus 1000 if aromatic.
    return element_bit(d == "AtomType" ? eq->getVal() % 1000 : eq->getVal());
  }
  const bool is_or = dynamic_cast<const OrQ *>(q) != nullptr;
  const bool is_and = dynamic_cast<const AndQ *>(q) != nullptr;
  if (!is_or && !is_and) return kAllElements;
  Elements e = is_or ? Elements{0, 0} : kAllElements;
  for (auto it = q->beginChildren(); it != q->endChildren(); ++it) {
    Elements c = allowed_elements(it->get());
    for (int w = 0; w < 2; ++w) e[w] = is_or ? (e[w] | c[w]) : (e[w] & c[w]);
  }
  return e;
}

// The elements of `e` as a list, if there are at most 16 (else empty: "any").
std::vector<unsigned char> element_list(const Elements &e) {
  std::vector<unsigned char> list;
  for (unsigned z = 0; z < 128 && list.size() <= 16; ++z) {
    if (e[z / 64] >> (z % 64) & 1) list.push_back(static_cast<unsigned char>(z));
  }
  if (list.size() > 16) list.clear();
  return list;
}

// Search orders for a query molecule: from each start atom, breadth first
// through its component, then the other components the same way.
std::vector<std::vector<QuerySet::Step>> search_orders(const RDKit::ROMol &q) {
  const unsigned n = q.getNumAtoms();
  std::vector<std::vector<QuerySet::Step>> orders(n);
  for (unsigned start = 0; start < n; ++start) {
    std::vector<int> pos(n, -1);
    auto &order = orders[start];
    for (unsigned root = start, left = n; left; root = (root + 1) % n) {
      if (pos[root] >= 0) continue;
      std::vector<unsigned> queue = {root};
      pos[root] = static_cast<int>(order.size());
      order.push_back({static_cast<int>(root), -1, nullptr, {}});
      --left;
      for (std::size_t h = 0; h < queue.size(); ++h) {
        for (const auto b : q.atomBonds(q.getAtomWithIdx(queue[h]))) {
          const unsigned o = b->getOtherAtomIdx(queue[h]);
          if (pos[o] >= 0) continue;
          pos[o] = static_cast<int>(order.size());
          order.push_back({static_cast<int>(o), -1, nullptr, {}});
          --left;
          queue.push_back(o);
        }
      }
    }
    // parent: the earliest-mapped bonded atom; back: the other earlier ones
    for (auto &step : order) {
      for (const auto b : q.atomBonds(q.getAtomWithIdx(step.atom))) {
        const int o = static_cast<int>(b->getOtherAtomIdx(step.atom));
        if (pos[o] >= pos[step.atom]) continue;
        if (step.parent < 0 || pos[o] < pos[step.parent]) {
          if (step.parent >= 0) step.back.emplace_back(step.parent, step.parent_bond);
          step.parent = o;
          step.parent_bond = b;
        } else {
          step.back.emplace_back(o, b);
        }
      }
    }
  }
  return orders;
}

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

// Adds the expression tree of atom query `q` to `key` (compiling the inner
// molecules of its recursive SMARTS); returns the node, -1 if we cannot
// evaluate it (recursion under XOR, or a recursive SMARTS with a root atom).
int QuerySet::build_expr(const AtomQuery *q, Key &key) {
  Expr e{Expr::Leaf, q->getNegation(), q, -1, {}};
  if (auto *r = dynamic_cast<const RDKit::RecursiveStructureQuery *>(q)) {
    const RDKit::ROMol *inner = r->getQueryMol();
    if (!inner || inner->hasProp(RDKit::common_properties::_queryRootAtom)) return -1;
    // identical recursive SMARTS (rotatable bonds repeat several) share one
    std::string smarts = RDKit::MolToSmarts(*inner);
    auto it = inner_by_smarts_.find(smarts);
    const int idx = it != inner_by_smarts_.end() ? it->second : compile(inner);
    inner_by_smarts_.emplace(std::move(smarts), idx);
    if (!queries_[idx].supported) return -1;
    key.recursions.push_back(idx);
    e.kind = Expr::Recursive;
    e.inner = idx;
  } else if (has_recursion(q)) {
    if (dynamic_cast<const AndQ *>(q)) {
      e.kind = Expr::And;
    } else if (dynamic_cast<const OrQ *>(q)) {
      e.kind = Expr::Or;
    } else {
      return -1;  // e.g. XOR over recursion
    }
    for (auto it = q->beginChildren(); it != q->endChildren(); ++it) {
      const int child = build_expr(it->get(), key);
      if (child < 0) return -1;
      e.children.push_back(child);
    }
  }
  key.expr.push_back(std::move(e));
  return static_cast<int>(key.expr.size()) - 1;
}

int QuerySet::compile(const RDKit::ROMol *mol) {
  Query qd;
  qd.mol = mol;
  for (const auto atom : mol->atoms()) {
    const AtomQuery *q = atom->hasQuery() ? atom->getQuery() : nullptr;
    std::string smarts = RDKit::SmartsWrite::GetAtomSmarts(atom);
    int key = -1;
    for (std::size_t k = 0; k < key_smarts_.size() && key < 0; ++k) {
      if (key_smarts_[k] == smarts) key = static_cast<int>(k);
    }
    if (key < 0) {
      Key kd{atom, {}, true, {}, q ? allowed_elements(q) : element_bit(atom->getAtomicNum()), {}};
      kd.element_list = element_list(kd.elements);
      if (q && has_recursion(q)) kd.supported = build_expr(q, kd) >= 0;
      key = static_cast<int>(keys_.size());
      keys_.push_back(std::move(kd));
      key_smarts_.push_back(std::move(smarts));
    }
    const Key &kd = keys_[key];
    if (!kd.supported) qd.supported = false;
    if (!kd.recursions.empty()) qd.uses_recursion = true;
    qd.recursions.insert(qd.recursions.end(), kd.recursions.begin(), kd.recursions.end());
    qd.keys.push_back(key);
    qd.elements.push_back(kd.elements);
    qd.element_lists.push_back(kd.element_list);
  }
  for (const auto bond : mol->bonds()) {
    if (bond->getBondType() == RDKit::Bond::DATIVE) qd.supported = false;
  }
  for (const auto atom : mol->atoms()) qd.degrees.push_back(atom->getDegree());
  for (std::size_t a = 0; a < qd.keys.size(); ++a) {
    if (std::find(qd.distinct_keys.begin(), qd.distinct_keys.end(), qd.keys[a]) == qd.distinct_keys.end()) {
      qd.distinct_keys.push_back(qd.keys[a]);
    }
  }
  // cheap ones first: a key without recursion that matches nothing ends the
  // screen before any recursive SMARTS is matched
  std::stable_partition(qd.distinct_keys.begin(), qd.distinct_keys.end(),
                        [&](int k) { return keys_[k].recursions.empty(); });
  for (std::size_t a = 0; a < qd.keys.size(); ++a) {
    const auto &list = qd.element_lists[a];
    if (list.size() != 1) continue;
    auto need = std::find_if(qd.element_needs.begin(), qd.element_needs.end(),
                             [&](const auto &p) { return p.first == list[0]; });
    if (need == qd.element_needs.end()) {
      qd.element_needs.emplace_back(list[0], 1);
    } else {
      ++need->second;
    }
  }
  qd.orders = search_orders(*mol);
  queries_.push_back(std::move(qd));
  return static_cast<int>(queries_.size()) - 1;
}

void QuerySet::add_borrowed(const RDKit::ROMol *query) {
  top_.push_back(compile(query));
}

void QuerySet::add_owned(std::unique_ptr<RDKit::ROMol> query) {
  add_borrowed(query.get());
  owned_.push_back(std::move(query));
}

// -------------------------------------------------------------- matcher --

struct Matcher::Scratch {
  std::vector<signed char> cache;  // keys x atoms: -1 unknown, 0 no, 1 yes
  std::vector<signed char> rec_state;  // per query: 0 todo, 1 done, 2 over limit
  std::vector<int> key_count;      // per key: atoms it matches (-1 not counted)
  std::vector<char> rec_atoms;     // queries x atoms: the atoms a recursive SMARTS accepts
  std::vector<char> used;          // search scratch, all 0 between searches
  std::vector<unsigned> map;       // search scratch: images of query atoms
  std::vector<unsigned char> z;    // atomic numbers
  std::vector<unsigned> by_z_first;  // atoms of element z: by_z[by_z_first[z]..by_z_first[z+1])
  std::vector<unsigned> by_z;
  std::vector<unsigned> first;     // atom a's neighbours: nbrs[first[a]..first[a+1])
  std::vector<unsigned> fill;
  struct Neighbor {
    unsigned atom;
    const RDKit::Bond *bond;
  };
  std::vector<Neighbor> nbrs;
};

namespace {
thread_local std::vector<std::unique_ptr<Matcher::Scratch>> scratch_pool;
}  // namespace

struct Matcher::Search {
  const QuerySet::Query &query;
  int anchor;
  unsigned limit;
  const Visit &visit;
  std::vector<unsigned> &map;
  std::vector<char> &used;
  unsigned count = 0;
  bool stop = false, hit_limit = false;
};

Matcher::Matcher(const QuerySet &set, const RDKit::ROMol &mol)
    : set_(set), mol_(mol), n_(mol.getNumAtoms()) {
  if (scratch_pool.empty()) {
    s_ = std::make_unique<Scratch>();
  } else {
    s_ = std::move(scratch_pool.back());
    scratch_pool.pop_back();
  }
  s_->cache.assign(set.num_keys() * n_, -1);
  s_->rec_state.assign(set.num_queries(), 0);
  s_->key_count.clear();  // sized on first use (screen)
  s_->rec_atoms.resize(set.num_queries() * n_);  // filled when computed
  s_->used.assign(n_, 0);
  s_->z.resize(n_);
  s_->by_z_first.assign(129, 0);
  for (const auto atom : mol.atoms()) {
    const auto z = static_cast<unsigned char>(std::min(atom->getAtomicNum(), 127));
    s_->z[atom->getIdx()] = z;
    ++s_->by_z_first[z + 1];
  }
  for (unsigned z = 0; z < 128; ++z) s_->by_z_first[z + 1] += s_->by_z_first[z];
  s_->by_z.resize(n_);
  s_->fill.assign(s_->by_z_first.begin(), s_->by_z_first.end() - 1);
  for (unsigned a = 0; a < n_; ++a) s_->by_z[s_->fill[s_->z[a]]++] = a;
  if (!mol.getRingInfo()->isInitialized()) RDKit::MolOps::findSSSR(mol);
  auto &first = s_->first;
  first.assign(n_ + 1, 0);
  for (const auto b : mol.bonds()) {
    ++first[b->getBeginAtomIdx() + 1];
    ++first[b->getEndAtomIdx() + 1];
  }
  for (unsigned a = 0; a < n_; ++a) first[a + 1] += first[a];
  s_->nbrs.resize(first[n_]);
  for (unsigned a = 0; a < n_; ++a) max_degree_ = std::max(max_degree_, first[a + 1] - first[a]);
  s_->fill.assign(first.begin(), first.end() - 1);
  for (const auto b : mol.bonds()) {
    const unsigned u = b->getBeginAtomIdx(), v = b->getEndAtomIdx();
    s_->nbrs[s_->fill[u]++] = {v, b};
    s_->nbrs[s_->fill[v]++] = {u, b};
  }
  for (const auto atom : mol.atoms()) {
    const unsigned z = atom->getAtomicNum();
    Elements b = element_bit(static_cast<int>(z));
    present_[0] |= b[0];
    present_[1] |= b[1];
    if (z < element_count_.size()) ++element_count_[z];
  }
}

Matcher::~Matcher() {
  if (scratch_pool.size() < 8) scratch_pool.push_back(std::move(s_));
}

bool Matcher::elements_present(int q) const {
  const QuerySet::Query &qd = set_.query(q);
  if (qd.mol->getNumAtoms() > n_) return false;  // no injective map
  for (const Elements &el : qd.elements) {
    if (!(el[0] & present_[0]) && !(el[1] & present_[1])) return false;
  }
  return true;
}

int Matcher::best_start(int q) {
  const QuerySet::Query &qd = set_.query(q);
  const std::size_t natoms = qd.element_lists.size();
  // first by element counts, which cost nothing...
  unsigned best_count = ~0u;
  int best = cheap_start(q, &best_count);
  if (best_count <= 4 || natoms == 1) return best;
  // ...then, for the rest, by the atoms that really match (answers cached
  // for the search), which finds e.g. the one non-ring alkene carbon of a
  // pattern made mostly of aromatic carbons
  const auto &first = s_->first;
  for (std::size_t a = 0; a < natoms && best_count; ++a) {
    const int key = qd.keys[a];
    const unsigned degree = qd.degrees[a];
    unsigned c = 0;
    for_atoms(qd.element_lists[a], [&](unsigned t) {
      if (first[t + 1] - first[t] >= degree && atom_matches(key, t)) ++c;
      return c >= best_count;
    });
    if (c < best_count) {
      best_count = c;
      best = static_cast<int>(a);
    }
  }
  return best;
}

unsigned Matcher::key_atoms(int key) {
  if (s_->key_count.empty()) s_->key_count.assign(set_.num_keys(), -1);
  int &c = s_->key_count[key];
  if (c < 0) {
    unsigned n = 0;
    for_atoms(set_.key(key).element_list, [&](unsigned t) {
      n += atom_matches(key, t);
      return false;
    });
    c = static_cast<int>(n);
  }
  return static_cast<unsigned>(c);
}

int Matcher::screen(int q) {
  const QuerySet::Query &qd = set_.query(q);
  if (qd.mol->getNumAtoms() > n_) return -1;  // no injective map
  for (const auto &[z, k] : qd.element_needs) {
    if (element_count_[z] < k) return -1;
  }
  // RDKit decides unsupported queries; their atom queries are not ours to
  // evaluate (embeddings() asks RDKit before searching).
  if (!qd.supported) return 0;
  // Only atom queries without recursion are counted: counting one with a
  // recursive SMARTS would match that SMARTS around every candidate atom,
  // where the search needs it only next to atoms already mapped (and for
  // a query that is all recursive SMARTS, the search is the count).
  int best_key = -1;
  unsigned best_count = ~0u;
  for (int key : qd.distinct_keys) {
    if (!set_.key(key).recursions.empty()) break;  // these come last
    const unsigned c = key_atoms(key);
    if (c == 0) return -1;
    if (c < best_count) {
      best_count = c;
      best_key = key;
    }
  }
  if (best_key < 0) return cheap_start(q);
  for (std::size_t a = 0; a < qd.keys.size(); ++a) {
    if (qd.keys[a] == best_key) return static_cast<int>(a);
  }
  return 0;
}

unsigned Matcher::embedding_bound(int q, unsigned first_candidates) const {
  const unsigned max_degree = max_degree_;
  std::uint64_t bound = first_candidates;
  const auto &order = set_.query(q).orders[0];
  for (std::size_t k = 1; k < order.size() && bound < ~0u; ++k) {
    // a step with a parent picks among that atom's neighbours
    bound *= order[k].parent >= 0 ? max_degree : n_;
  }
  return static_cast<unsigned>(std::min<std::uint64_t>(bound, ~0u));
}

// Calls f(atom) for every atom whose element is in `list` (all atoms if the
// list is empty), stopping when f returns true.
template <class F>
bool Matcher::for_atoms(const std::vector<unsigned char> &list, F &&f) const {
  if (list.empty()) {
    for (unsigned t = 0; t < n_; ++t) {
      if (f(t)) return true;
    }
    return false;
  }
  for (unsigned char z : list) {
    for (unsigned k = s_->by_z_first[z]; k < s_->by_z_first[z + 1]; ++k) {
      if (f(s_->by_z[k])) return true;
    }
  }
  return false;
}

unsigned Matcher::count_key_atoms(int key, const std::vector<char> &marked,
                                  bool &any_marked) {
  unsigned c = 0;
  any_marked = false;
  for_atoms(set_.key(key).element_list, [&](unsigned t) {
    if (atom_matches(key, t)) {
      ++c;
      any_marked = any_marked || marked[t];
    }
    return false;
  });
  return c;
}

const RDKit::Bond *Matcher::bond_between(unsigned a, unsigned b) const {
  for (unsigned k = s_->first[a]; k < s_->first[a + 1]; ++k) {
    if (s_->nbrs[k].atom == b) return s_->nbrs[k].bond;
  }
  return nullptr;
}

// Inner query r's atom set: the images of its first atom over all its
// embeddings (RDKit's RecursiveMatcher), unless there are 1000 or more
// embeddings, where RDKit keeps only those it found first. The number of
// embeddings does not depend on the search order, so the search starts
// from the query atom with the rarest elements; the visitor gets every
// query atom's image, atom 0's included.
bool Matcher::prepare_one(int r) {
  if (s_->rec_state[r] == 0) {
    char *atoms = &s_->rec_atoms[static_cast<std::size_t>(r) * n_];
    std::fill(atoms, atoms + n_, 0);
    const Outcome o = embeddings(r, cheap_start(r), -1, kRdkitLimit, [&](const std::vector<unsigned> &m) {
      atoms[m[0]] = 1;
      return false;
    });
    s_->rec_state[r] = o == Outcome::Complete ? 1 : 2;
    if (s_->rec_state[r] == 2) tainted_ = true;
  }
  return s_->rec_state[r] == 1;
}

int Matcher::cheap_start(int q, unsigned *candidates) const {
  const QuerySet::Query &qd = set_.query(q);
  int best = 0;
  unsigned best_count = ~0u;
  for (std::size_t a = 0; a < qd.element_lists.size() && best_count; ++a) {
    const auto &list = qd.element_lists[a];
    unsigned c = list.empty() ? n_ : 0;
    for (unsigned char z : list) c += element_count_[z];
    if (c < best_count) {
      best_count = c;
      best = static_cast<int>(a);
    }
  }
  if (candidates) *candidates = best_count;
  return best;
}

// The value of node `node` of `key`'s expression for `atom`. AND and OR stop
// at the first child that decides them, and a recursive SMARTS is matched
// when first needed: the value is the same whatever is left unevaluated (a
// recursive SMARTS over RDKit's limit that was never needed could not have
// changed it either).
bool Matcher::eval(const QuerySet::Key &key, int node, const RDKit::Atom *atom) {
  const QuerySet::Expr &e = key.expr[node];
  bool res;
  switch (e.kind) {
    case QuerySet::Expr::Leaf:
      return e.leaf->Match(atom);  // applies its own negation
    case QuerySet::Expr::Recursive:
      prepare_one(e.inner);  // over the limit: tainted_, callers ask RDKit
      res = s_->rec_atoms[static_cast<std::size_t>(e.inner) * n_ + atom->getIdx()] != 0;
      break;
    case QuerySet::Expr::And:
      res = true;
      for (std::size_t i = 0; i < e.children.size() && res; ++i) res = eval(key, e.children[i], atom);
      break;
    default:  // Or
      res = false;
      for (std::size_t i = 0; i < e.children.size() && !res; ++i) res = eval(key, e.children[i], atom);
  }
  return e.negated ? !res : res;
}

bool Matcher::atom_matches(int key, unsigned atom) {
  signed char &c = s_->cache[static_cast<std::size_t>(key) * n_ + atom];
  if (c < 0) {
    const QuerySet::Key &kd = set_.key(key);
    const unsigned z = s_->z[atom];
    if (!(kd.elements[z / 64] >> (z % 64) & 1)) return (c = 0);  // cannot match
    const RDKit::Atom *target = mol_.getAtomWithIdx(atom);
    if (kd.recursions.empty()) {
      c = kd.atom->Match(target) ? 1 : 0;
    } else {
      // (may run searches for recursive SMARTS, which write other entries)
      const bool match = eval(kd, static_cast<int>(kd.expr.size()) - 1, target);
      s_->cache[static_cast<std::size_t>(key) * n_ + atom] = match ? 1 : 0;
      return match;
    }
  }
  return c != 0;
}

bool Matcher::extend(const std::vector<QuerySet::Step> &order, std::size_t k,
                     Search &s) {
  if (k == order.size()) {
    ++s.count;
    if (s.visit(s.map)) {
      s.stop = true;
    } else if (s.limit && s.count >= s.limit) {
      s.stop = s.hit_limit = true;
    }
    return s.stop;
  }
  const QuerySet::Step &step = order[k];
  const int key = s.query.keys[step.atom];
  const unsigned degree = s.query.degrees[step.atom];
  const auto &first = s_->first;
  auto try_atom = [&](unsigned t, const RDKit::Bond *via) {
    if (first[t + 1] - first[t] < degree || s.used[t] || !atom_matches(key, t)) return false;
    if (via && !step.parent_bond->Match(via)) return false;
    for (const auto &[other, qb] : step.back) {
      const RDKit::Bond *tb = bond_between(t, s.map[other]);
      if (!tb || !qb->Match(tb)) return false;
    }
    s.map[step.atom] = t;
    s.used[t] = 1;
    const bool stop = extend(order, k + 1, s);
    s.used[t] = 0;
    return stop;
  };
  if (step.parent >= 0) {
    const unsigned from = s.map[step.parent];
    for (unsigned k = first[from]; k < first[from + 1]; ++k) {
      if (try_atom(s_->nbrs[k].atom, s_->nbrs[k].bond)) return true;
    }
  } else if (k == 0 && s.anchor >= 0) {
    return try_atom(static_cast<unsigned>(s.anchor), nullptr);
  } else {
    return for_atoms(s.query.element_lists[step.atom],
                     [&](unsigned t) { return try_atom(t, nullptr); });
  }
  return false;
}

Matcher::Outcome Matcher::embeddings(int q, int start, int anchor, unsigned limit,
                                     const Visit &visit) {
  const QuerySet::Query &qd = set_.query(q);
  if (!qd.supported) return Outcome::AskRdkit;
  if (anchor >= 0 && start != 0) return Outcome::AskRdkit;  // anchors atom 0
  if (qd.mol->getNumAtoms() > n_) return Outcome::Complete;
  // A recursive SMARTS is matched when an atom query first needs it, which
  // may be in the middle of a search: the inner search then has buffers of
  // its own.
  std::vector<char> own;
  if (searching_) own.assign(n_, 0);
  std::vector<unsigned> own_map;
  if (searching_) own_map.resize(qd.mol->getNumAtoms());
  if (!searching_) s_->map.resize(qd.mol->getNumAtoms());  // keeps its capacity
  Search s{qd, anchor, limit, visit, searching_ ? own_map : s_->map,
           searching_ ? own : s_->used};
  const bool outer = !searching_;
  searching_ = true;
  extend(qd.orders[start], 0, s);
  if (outer) searching_ = false;
  if (qd.uses_recursion && tainted_) return Outcome::AskRdkit;
  return s.hit_limit ? Outcome::Limit : Outcome::Complete;
}

std::uint32_t count_with(Matcher &m, const QuerySet &set, std::size_t i,
                         bool uniquify, std::uint32_t max_matches, int start) {
  const int q = set.top(i);
  if (start < 0 && !m.elements_present(q)) return 0;
  const unsigned natoms = set.mol(i).getNumAtoms();
  // uniquify: RDKit keeps one embedding per set of atoms
  std::vector<std::uint64_t> pairs;  // two-atom queries
  std::vector<std::vector<unsigned>> sets;
  unsigned count = 0;
  const Matcher::Outcome o =
      m.embeddings(q, start >= 0 ? start : m.best_start(q), -1, max_matches, [&](const std::vector<unsigned> &e) {
        ++count;
        if (uniquify && natoms == 2) {
          pairs.push_back(std::uint64_t{std::min(e[0], e[1])} << 32 | std::max(e[0], e[1]));
        } else if (uniquify && natoms > 2) {
          sets.push_back(e);
          std::sort(sets.back().begin(), sets.back().end());
        }
        return false;
      });
  // With a limit of one, any single embedding is RDKit's whole answer.
  if (o == Matcher::Outcome::Complete || (o == Matcher::Outcome::Limit && max_matches == 1)) {
    if (uniquify && natoms == 2) {
      std::sort(pairs.begin(), pairs.end());
      return static_cast<std::uint32_t>(std::unique(pairs.begin(), pairs.end()) - pairs.begin());
    }
    if (uniquify && natoms > 2) {
      std::sort(sets.begin(), sets.end());
      return static_cast<std::uint32_t>(std::unique(sets.begin(), sets.end()) - sets.begin());
    }
    return count;
  }
  return static_cast<std::uint32_t>(substruct(m.mol(), set.mol(i), uniquify, max_matches).size());
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
  Matcher m(set, mol);
  return count_with(m, set, i, uniquify, max_matches);
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
  Matcher m(set, mol);
  return count_with(m, set, i, true, 1) > 0;
}

std::uint32_t sssr_count_after_delete(const RDKit::ROMol &mol,
                                      const QuerySet &set, std::uint32_t i) {
  check_index(set, i);
  std::unique_ptr<RDKit::ROMol> stripped(RDKit::deleteSubstructs(mol, set.mol(i)));
  RDKit::VECT_INT_VECT rings;
  return static_cast<std::uint32_t>(RDKit::MolOps::findSSSR(*stripped, rings));
}

namespace {

// QED's AROM as RDKit computes it: findSSSR on deleteSubstructs(mol, query)
// (the query matches single atoms). With nothing deleted that copy keeps the
// molecule's ring info, which findSSSR returns as is; otherwise findSSSR
// finds the rings of the remaining graph, which depends only on its atoms,
// bonds (in the same order) and bond types, so a bare copy of that graph
// gives the same answer without copying the molecule.
std::uint32_t arom_count(Matcher &m, const QuerySet &set, std::size_t i) {
  const RDKit::ROMol &mol = m.mol();
  const unsigned n = mol.getNumAtoms();
  std::vector<char> deleted(n, 0);
  unsigned count = 0;
  const auto outcome =
      m.embeddings(set.top(i), 0, -1, Matcher::kRdkitLimit, [&](const std::vector<unsigned> &e) {
        deleted[e[0]] = 1;
        ++count;
        return false;
      });
  RDKit::VECT_INT_VECT rings;
  if (outcome != Matcher::Outcome::Complete || set.mol(i).getNumAtoms() != 1 ||
      (count == 0 && !mol.getRingInfo()->isInitialized())) {
    std::unique_ptr<RDKit::ROMol> stripped(RDKit::deleteSubstructs(mol, set.mol(i)));
    return static_cast<std::uint32_t>(RDKit::MolOps::findSSSR(*stripped, rings));
  }
  if (count == 0) return mol.getRingInfo()->numRings();
  RDKit::RWMol graph;
  std::vector<unsigned> index(n, 0);
  for (unsigned a = 0; a < n; ++a) {
    if (deleted[a]) continue;
    index[a] = graph.addAtom(new RDKit::Atom(mol.getAtomWithIdx(a)->getAtomicNum()), true, true);
  }
  for (const auto b : mol.bonds()) {
    const unsigned u = b->getBeginAtomIdx(), v = b->getEndAtomIdx();
    if (!deleted[u] && !deleted[v]) graph.addBond(index[u], index[v], b->getBondType());
  }
  return static_cast<std::uint32_t>(RDKit::MolOps::findSSSR(graph, rings));
}

}  // namespace

PatternCounts pattern_counts(const RDKit::ROMol &mol, const QuerySet &set,
                             std::uint32_t n_acceptors) {
  constexpr std::size_t kHba = 0, kRotb = 1, kAliphaticRing = 2, kAcceptors = 3;
  if (set.size() < kAcceptors + n_acceptors) throw std::out_of_range("pattern set too small");
  Matcher m(set, mol);
  const unsigned limit = Matcher::kRdkitLimit;
  PatternCounts r;
  r.hba = count_with(m, set, kHba, true, limit);
  r.rotb = count_with(m, set, kRotb, true, limit);
  r.qed_hba = 0;
  for (std::size_t i = kAcceptors; i < kAcceptors + n_acceptors; ++i) {
    r.qed_hba += count_with(m, set, i, true, limit);
  }
  r.qed_alerts = 0;
  for (std::size_t i = kAcceptors + n_acceptors; i < set.size(); ++i) {
    if (count_with(m, set, i, true, 1) > 0) ++r.qed_alerts;
  }
  r.qed_arom = arom_count(m, set, kAliphaticRing);
  return r;
}

}  // namespace pharmforge
