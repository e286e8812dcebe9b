// pharmforge-chem: compiled SMARTS query sets and our exact substructure
// matcher (src/matching.cc), shared by the bridge and Crippen (src/crippen.cc).
//
// Why our own matcher: QED's 116 alerts and 11 acceptor patterns, the HBA and
// rotatable-bond definitions and Crippen's ~110 atom types were, as plain
// RDKit SubstructMatch calls, most of the per-molecule cost; each call sets
// up a VF2 state and matches every recursive SMARTS afresh. The matcher here
// finds the same embeddings RDKit defines (every injective map of query atoms
// to molecule atoms under which each query atom's Match() and each query
// bond's Match() accept; recursive SMARTS `$(...)` accept an atom that is the
// image of the inner query's first atom in some embedding) with a small
// backtracking search, caching per molecule each distinct atom query's answer
// for each atom and each recursive SMARTS's atom set.
//
// Where RDKit's answer depends on the order VF2 visits embeddings, because it
// stops after `maxMatches` (1000) of them (top-level or inside a recursive
// SMARTS), we detect that we reached the limit and ask RDKit instead; so do
// queries we do not model (XOR of recursive SMARTS, dative query bonds, a
// recursive SMARTS with a root atom other than its first). Tests compare
// against RDKit directly: smarts.rs `matcher_counts_equal_rdkit` and
// `crippen_matches_rdkit`, patterns.rs `counts_equal_rdkit`.
//
// Search: query atoms are visited breadth first from a start atom (the one
// with the fewest candidate molecule atoms); each further atom is looked for
// among the neighbours of an already-mapped one, and must have at least the
// query atom's degree, an allowed element, and match; its other bonds to
// mapped atoms must exist and match.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

// First: Debian's RDKit headers do not include it themselves, and it decides
// the layout of some classes (RecursiveStructureQuery has a mutex only under
// RDK_BUILD_THREADSAFE_SSS).
#include <RDGeneral/RDConfig.h>

#include <GraphMol/ROMol.h>
#include <GraphMol/QueryAtom.h>

namespace pharmforge {

using Elements = std::array<std::uint64_t, 2>;  // bit i: atomic number i
using AtomQuery = RDKit::QueryAtom::QUERYATOM_QUERY;

// One or more compiled SMARTS queries, immutable after construction (shared
// between threads): the query molecules (top-level ones, then the inner
// molecules of their recursive SMARTS) with their search plans, and the
// distinct atom queries they use.
class QuerySet {
 public:
  QuerySet() = default;
  QuerySet(const QuerySet &) = delete;
  QuerySet &operator=(const QuerySet &) = delete;

  void add_owned(std::unique_ptr<RDKit::ROMol> query);
  void add_borrowed(const RDKit::ROMol *query);  // must outlive the set
  std::size_t size() const { return top_.size(); }  // top-level queries
  const RDKit::ROMol &mol(std::size_t i) const { return *queries_[top_[i]].mol; }
  int top(std::size_t i) const { return top_[i]; }  // its index in queries

  // One step of a search: map query atom `atom`; `parent` (-1: none) is an
  // earlier-mapped query atom bonded to it through `parent_bond`, so the
  // candidates are its image's neighbours; `back` are its other bonds to
  // earlier-mapped atoms.
  struct Step {
    int atom;
    int parent;
    const RDKit::Bond *parent_bond;
    std::vector<std::pair<int, const RDKit::Bond *>> back;
  };
  struct Query {
    const RDKit::ROMol *mol;
    bool supported = true;            // false: always ask RDKit
    bool uses_recursion = false;      // some atom has a recursive SMARTS
    std::vector<int> keys;            // per query atom: its distinct atom query
    std::vector<Elements> elements;   // per query atom: elements it can match
    // per query atom: those elements as a list, if few (empty: many or any)
    std::vector<std::vector<unsigned char>> element_lists;
    std::vector<unsigned> degrees;    // per query atom: its bonds in the query
    // elements that some query atoms can only be, with how many such atoms
    std::vector<std::pair<unsigned char, unsigned>> element_needs;
    std::vector<int> distinct_keys;   // keys, each once
    std::vector<int> recursions;      // inner queries its atoms refer to
    std::vector<std::vector<Step>> orders;  // orders[s]: search from atom s
  };
  // An atom query with recursive SMARTS, as a tree we evaluate ourselves:
  // leaves without recursion use RDKit's Match, recursive SMARTS our atom
  // sets, AND/OR nodes combine their children (then apply the negation).
  struct Expr {
    enum Kind : unsigned char { Leaf, Recursive, And, Or } kind;
    bool negated;
    const AtomQuery *leaf;      // Leaf
    int inner;                  // Recursive: the inner query
    std::vector<int> children;  // And, Or: indices into Key::expr
  };
  // A distinct atom query (atoms with identical SMARTS share one).
  struct Key {
    const RDKit::Atom *atom;
    std::vector<int> recursions;  // inner queries its recursive SMARTS use
    bool supported;               // false: recursion we do not evaluate
    std::vector<Expr> expr;       // children before parents, root last
    Elements elements;            // a superset of the elements it matches
    std::vector<unsigned char> element_list;  // the same, if few (empty: many)
  };

  const Query &query(int q) const { return queries_[q]; }
  std::size_t num_queries() const { return queries_.size(); }
  const Key &key(int k) const { return keys_[k]; }
  std::size_t num_keys() const { return keys_.size(); }

 private:
  int compile(const RDKit::ROMol *mol);
  int build_expr(const AtomQuery *q, Key &key);  // -1: not supported

  std::vector<std::unique_ptr<RDKit::ROMol>> owned_;
  std::vector<Query> queries_;
  std::vector<int> top_;
  std::vector<Key> keys_;
  std::vector<std::string> key_smarts_;
  std::unordered_map<std::string, int> inner_by_smarts_;  // inner query's SMARTS -> query
};

// Matching state for one molecule against one QuerySet: per distinct atom
// query and molecule atom, whether it matches (computed on first use); per
// inner query, the atoms its recursive SMARTS accepts.
class Matcher {
 public:
  Matcher(const QuerySet &set, const RDKit::ROMol &mol);
  ~Matcher();
  Matcher(const Matcher &) = delete;
  Matcher &operator=(const Matcher &) = delete;

  // Per-molecule buffers, reused across molecules on each thread (fresh
  // large allocations per molecule were a measurable cost).
  struct Scratch;

  // RDKit's embedding limit (SubstructMatchParameters::maxMatches default,
  // and the fixed limit inside recursive SMARTS).
  static constexpr unsigned kRdkitLimit = 1000;

  enum class Outcome {
    Complete,  // every embedding was visited (or the visitor stopped us)
    Limit,     // `limit` embeddings reached: RDKit's answer may depend on order
    AskRdkit,  // not modelled (unsupported query, recursion over the limit)
  };
  // A borrowed callable: gets the images of the query atoms of one
  // embedding and returns true to stop the search.
  class Visit {
   public:
    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Visit>>>
    Visit(F &&f)  // NOLINT: implicit, like std::function
        : obj_(const_cast<void *>(static_cast<const void *>(&f))),
          call_([](void *o, const std::vector<unsigned> &m) -> bool {
            return (*static_cast<std::remove_reference_t<F> *>(o))(m);
          }) {}
    bool operator()(const std::vector<unsigned> &m) const { return call_(obj_, m); }

   private:
    void *obj_;
    bool (*call_)(void *, const std::vector<unsigned> &);
  };
  // Visits the embeddings of query `q` (starting the search at query atom
  // `start`; with `anchor` >= 0, only those mapping atom 0 to it), at most
  // `limit` of them (0: no limit).
  Outcome embeddings(int q, int start, int anchor, unsigned limit, const Visit &visit);

  // Cheap necessary condition: every query atom has a candidate element.
  bool elements_present(int q) const;
  // Whether molecule atom `atom` matches distinct atom query `key`.
  bool atom_matches(int key, unsigned atom);
  // How many atoms match `key`; `any_marked`: whether one is marked.
  unsigned count_key_atoms(int key, const std::vector<char> &marked, bool &any_marked);
  // The query atom to start a top-level search from (rarest elements).
  int best_start(int q);
  // For sets of many queries: -1 when query `q` certainly has no embedding
  // (too few atoms of an element it needs, or an atom query without
  // recursive SMARTS that no molecule atom matches), else the query atom to
  // start the search from: the one whose atom query (without recursion)
  // matches the fewest molecule atoms. Per distinct atom query, the number
  // of matching atoms is counted once per molecule and shared by all
  // queries.
  int screen(int q);
  const RDKit::ROMol &mol() const { return mol_; }
  // An upper bound on the number of embeddings of query `q` when its first
  // atom can go to `first_candidates` atoms (saturates at 2^32 - 1).
  unsigned embedding_bound(int q, unsigned first_candidates) const;
  // A recursive SMARTS went over RDKit's limit here: results of queries that
  // use recursion must come from RDKit.
  bool tainted() const { return tainted_; }

 private:
  bool prepare_one(int inner);  // matches a recursive SMARTS (false: over the limit)
  // The query atom with the rarest elements, and (if asked) how many of the
  // molecule's atoms have them.
  int cheap_start(int q, unsigned *candidates = nullptr) const;
  unsigned key_atoms(int key);  // atoms that match distinct atom query `key`
  bool eval(const QuerySet::Key &key, int node, const RDKit::Atom *atom);
  template <class F>
  bool for_atoms(const std::vector<unsigned char> &list, F &&f) const;
  const RDKit::Bond *bond_between(unsigned a, unsigned b) const;
  struct Search;
  bool extend(const std::vector<QuerySet::Step> &order, std::size_t k, Search &s);

  const QuerySet &set_;
  const RDKit::ROMol &mol_;
  unsigned n_;
  Elements present_ = {0, 0};
  std::array<unsigned, 128> element_count_{};
  std::unique_ptr<Scratch> s_;
  bool searching_ = false;
  bool tainted_ = false;
  unsigned max_degree_ = 0;
};

// len(SubstructMatch(mol, top-level query i, uniquify, max_matches)) for the
// molecule `m` matches, from our matcher where that is certainly RDKit's
// answer, else from RDKit (src/matching.cc).
// `start` >= 0: search from that query atom (Matcher::screen's answer)
// instead of the one best_start picks.
std::uint32_t count_with(Matcher &m, const QuerySet &set, std::size_t i,
                         bool uniquify, std::uint32_t max_matches, int start = -1);

}  // namespace pharmforge
