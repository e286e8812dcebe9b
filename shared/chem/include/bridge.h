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

rust::String rdkit_version();

std::unique_ptr<RDKit::ROMol> mol_from_smiles(rust::Str smiles);
std::unique_ptr<RDKit::ROMol> mol_from_smarts(rust::Str smarts);
std::unique_ptr<RDKit::ROMol> remove_hs(const RDKit::ROMol &mol);

rust::String mol_to_smiles(const RDKit::ROMol &mol);
rust::String mol_to_molblock(const RDKit::ROMol &mol);

std::uint32_t num_atoms(const RDKit::ROMol &mol);
std::uint32_t num_bonds(const RDKit::ROMol &mol);
bool has_hydrogen_atoms(const RDKit::ROMol &mol);
AtomData atom_data(const RDKit::ROMol &mol, std::uint32_t idx);
BondData bond_data(const RDKit::ROMol &mol, std::uint32_t idx);

std::uint32_t count_matches(const RDKit::ROMol &mol, const RDKit::ROMol &query,
                            bool uniquify, std::uint32_t max_matches);
bool has_match(const RDKit::ROMol &mol, const RDKit::ROMol &query);

DescriptorData descriptors(const RDKit::ROMol &mol);
QedData qed_descriptors(const RDKit::ROMol &mol);
std::uint32_t sssr_count_after_delete(const RDKit::ROMol &mol,
                                      const RDKit::ROMol &query);

}  // namespace pharmforge
