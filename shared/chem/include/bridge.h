// pharmforge-chem: the C++ half of our cxx bridge over the system RDKit.
//
// Kept deliberately small: every function takes or returns plain values, an
// RDKit::ROMol owned by a std::unique_ptr on the Rust side, or a QuerySet
// (compiled SMARTS). Every function that can reach RDKit code that throws is
// declared `-> Result<..>` on the Rust side, so exceptions become Rust errors.
//
// src/bridge.cc: logging, parsing, writing, atoms/bonds, descriptors.
// src/matching.cc: SMARTS query sets, substructure matching, Crippen logP/MR.
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <GraphMol/ROMol.h>  // cxx's UniquePtr<ROMol> needs the complete type

#include "rust/cxx.h"

// cxx turns C++ exceptions into rust::Error through this hook. The default
// only catches std::exception; RDKit throws std::exception subclasses, but we
// also catch anything else so that no exception can reach a noexcept frame
// and std::terminate the process.
namespace rust {
namespace behavior {
template <typename Try, typename Fail>
static void trycatch(Try &&func, Fail &&fail) noexcept try {
  func();
} catch (const std::exception &e) {
  fail(e.what());
} catch (...) {
  fail("unknown C++ exception from RDKit");
}
}  // namespace behavior
}  // namespace rust

namespace pharmforge {

struct AtomData;
struct BondData;
struct DescriptorData;
struct QedData;

using Elements = std::array<std::uint64_t, 2>;  // bit i: atomic number i

// One or more compiled SMARTS queries, immutable after construction (shared
// between threads). Besides the query molecules it keeps what a cheap
// pre-check needs: for each query atom without recursive SMARTS, the
// elements it can match and a key shared by identical atom queries across
// the set, so that one molecule's candidate atoms are computed once per
// distinct atom query (see SetMatcher in matching.cc).
class QuerySet {
 public:
  QuerySet() = default;
  QuerySet(const QuerySet &) = delete;
  QuerySet &operator=(const QuerySet &) = delete;

  void add_owned(std::unique_ptr<RDKit::ROMol> query);
  void add_borrowed(const RDKit::ROMol *query);  // must outlive the set
  std::size_t size() const { return entries_.size(); }
  const RDKit::ROMol &mol(std::size_t i) const { return *entries_[i].mol; }

  struct Entry {
    const RDKit::ROMol *mol;
    std::vector<int> atom_keys;       // per query atom; -1: recursive SMARTS
    std::vector<Elements> elements;   // per query atom
    std::vector<unsigned> plain_bonds;  // bonds between two non-recursive atoms
  };
  const Entry &entry(std::size_t i) const { return entries_[i]; }
  const RDKit::Atom *key_atom(int key) const { return key_atoms_[key]; }
  std::size_t num_keys() const { return key_atoms_.size(); }

 private:
  std::vector<std::unique_ptr<RDKit::ROMol>> owned_;
  std::vector<Entry> entries_;
  std::vector<const RDKit::Atom *> key_atoms_;
  std::vector<std::string> key_smarts_;
};

rust::String rdkit_version();

std::unique_ptr<RDKit::ROMol> mol_from_smiles(rust::Str smiles);
std::uint32_t smiles_atom_count(rust::Str smiles);
std::unique_ptr<RDKit::ROMol> remove_hs(const RDKit::ROMol &mol);
rust::String mol_to_smiles(const RDKit::ROMol &mol);
rust::String mol_to_molblock(const RDKit::ROMol &mol, bool with_coords);
bool has_specified_stereo(const RDKit::ROMol &mol);

std::uint32_t num_atoms(const RDKit::ROMol &mol);
std::uint32_t num_bonds(const RDKit::ROMol &mol);
bool has_hydrogen_atoms(const RDKit::ROMol &mol);
AtomData atom_data(const RDKit::ROMol &mol, std::uint32_t idx);
BondData bond_data(const RDKit::ROMol &mol, std::uint32_t idx);

std::unique_ptr<QuerySet> query_set_from_smarts(rust::Slice<const rust::Str> smarts);
std::uint32_t query_set_len(const QuerySet &set);
std::uint32_t query_num_atoms(const QuerySet &set, std::uint32_t i);
std::uint32_t count_matches(const RDKit::ROMol &mol, const QuerySet &set,
                            std::uint32_t i, bool uniquify,
                            std::uint32_t max_matches);
bool has_match(const RDKit::ROMol &mol, const QuerySet &set, std::uint32_t i);
// count_matches without the pre-check (tests prove the pre-check exact)
std::uint32_t count_matches_unfiltered(const RDKit::ROMol &mol, const QuerySet &set,
                                       std::uint32_t i, bool uniquify,
                                       std::uint32_t max_matches);
std::uint32_t count_queries_matching(const RDKit::ROMol &mol, const QuerySet &set);
std::uint32_t sum_match_counts(const RDKit::ROMol &mol, const QuerySet &set,
                               bool uniquify, std::uint32_t max_matches);
std::uint32_t sssr_count_after_delete(const RDKit::ROMol &mol,
                                      const QuerySet &set, std::uint32_t i);

DescriptorData descriptors(const RDKit::ROMol &mol);
QedData qed_descriptors(const RDKit::ROMol &mol);

namespace detail {
// Used by descriptors(); defined in matching.cc.
void crippen_logp_mr(const RDKit::ROMol &mol, double &logp, double &mr);
// Installs our RDKit log routing once; defined in bridge.cc.
void init_once();
// RDKit::SmartsToMol; on failure throws with the message RDKit logged.
std::unique_ptr<RDKit::ROMol> smarts_to_mol(const std::string &smarts);
}  // namespace detail

}  // namespace pharmforge
