// pharmforge-chem: the C++ half of our cxx bridge over the system RDKit.
//
// Kept deliberately small: every function takes/returns plain values or an
// RDKit::ROMol owned by a std::unique_ptr on the Rust side. Every function
// that can reach RDKit code that throws is declared `-> Result<..>` on the
// Rust side, so exceptions become Rust errors instead of aborting.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
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

// A compiled SMARTS query plus what we need for a cheap pre-check: the query
// atoms/bonds whose match does not depend on recursive SMARTS, so they can be
// tested one by one against a molecule before running the full VF2 search.
// Immutable after construction (shared between threads by SmartsPattern).
class Query {
 public:
  explicit Query(std::unique_ptr<RDKit::ROMol> mol);
  const RDKit::ROMol &mol() const { return *mol_; }
  // false only if the query certainly cannot match `target`: some plain query
  // atom has no compatible atom, or some plain query bond no compatible bond.
  bool could_match(const RDKit::ROMol &target) const;

 private:
  std::unique_ptr<RDKit::ROMol> mol_;
  std::vector<unsigned> plain_atoms_;
  std::vector<unsigned> plain_bonds_;
};

struct BondData;
struct DescriptorData;
struct QedData;

rust::String rdkit_version();

std::unique_ptr<RDKit::ROMol> mol_from_smiles(rust::Str smiles);
std::unique_ptr<Query> query_from_smarts(rust::Str smarts);
std::uint32_t query_num_atoms(const Query &query);
std::unique_ptr<RDKit::ROMol> remove_hs(const RDKit::ROMol &mol);

rust::String mol_to_smiles(const RDKit::ROMol &mol);
rust::String mol_to_molblock(const RDKit::ROMol &mol);

std::uint32_t num_atoms(const RDKit::ROMol &mol);
std::uint32_t num_bonds(const RDKit::ROMol &mol);
bool has_hydrogen_atoms(const RDKit::ROMol &mol);
AtomData atom_data(const RDKit::ROMol &mol, std::uint32_t idx);
BondData bond_data(const RDKit::ROMol &mol, std::uint32_t idx);

std::uint32_t count_matches(const RDKit::ROMol &mol, const Query &query,
                            bool uniquify, std::uint32_t max_matches);
bool has_match(const RDKit::ROMol &mol, const Query &query);

DescriptorData descriptors(const RDKit::ROMol &mol);
QedData qed_descriptors(const RDKit::ROMol &mol);
std::uint32_t sssr_count_after_delete(const RDKit::ROMol &mol,
                                      const Query &query);

}  // namespace pharmforge
