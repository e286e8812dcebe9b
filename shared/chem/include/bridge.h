// pharmforge-chem: the C++ half of our cxx bridge over the system RDKit.
//
// Kept deliberately small: every function takes or returns plain values, an
// RDKit::ROMol owned by a std::unique_ptr on the Rust side, or a QuerySet
// (compiled SMARTS). Every function that can reach RDKit code that throws is
// declared `-> Result<..>` on the Rust side, so exceptions become Rust errors.
//
// src/bridge.cc: logging, parsing, writing, atoms/bonds, descriptors.
// src/matching.cc: SMARTS query sets and substructure matching (include/matcher.h).
// src/crippen.cc: Crippen logP/MR. src/inchi_input.cc: the InChI library's input.
// src/depict.cc: 2D coordinates, SD molblocks and SVG pictures.
// src/filters.cc: PAINS, Brenk and NIH alert counts on the matcher.
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <RDGeneral/RDConfig.h>  // before any RDKit header: see matcher.h
#include <GraphMol/ROMol.h>  // cxx's UniquePtr<ROMol> needs the complete type

#include "rust/cxx.h"

#include "pharmforge-chem/include/matcher.h"  // QuerySet

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
struct FilterAlertCounts;
struct FilterAlertStats;
struct QedData;
struct InchiInput;
struct LogpMr;
struct PatternCounts;
struct SdSupplierRead;

rust::String rdkit_version();

std::unique_ptr<RDKit::ROMol> mol_from_smiles(rust::Str smiles);
std::uint32_t smiles_atom_count(rust::Str smiles);
std::unique_ptr<RDKit::ROMol> remove_hs(const RDKit::ROMol &mol);
std::unique_ptr<RDKit::ROMol> mol_from_molblock(rust::Str molblock);
rust::String mol_to_smiles(const RDKit::ROMol &mol);
rust::String mol_to_molblock(const RDKit::ROMol &mol, bool with_coords);
bool has_specified_stereo(const RDKit::ROMol &mol);
InchiInput inchi_input(const RDKit::ROMol &mol);  // inchi_input.cc

// depict.cc
rust::String molblock_2d(const RDKit::ROMol &mol, rust::Str title,
                         rust::Str header_line);
rust::String svg_2d(const RDKit::ROMol &mol, std::uint32_t width,
                    std::uint32_t height);
rust::String svg_2d_rdkit(const RDKit::ROMol &mol, std::uint32_t width,
                          std::uint32_t height);  // for tests
rust::String sd_writer_text(const RDKit::ROMol &mol, rust::Str title,
                            rust::Slice<const rust::Str> tags,
                            rust::Slice<const rust::Str> values);  // for tests
SdSupplierRead sd_supplier_read(rust::Str record);                // for tests

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
// count_matches by RDKit's SubstructMatch alone (tests compare the two)
std::uint32_t count_matches_unfiltered(const RDKit::ROMol &mol, const QuerySet &set,
                                       std::uint32_t i, bool uniquify,
                                       std::uint32_t max_matches);
// set: [HBA, strict rotatable bond, QED aliphatic ring atom, n_acceptors
// QED acceptors, QED alerts...] (patterns.rs)
PatternCounts pattern_counts(const RDKit::ROMol &mol, const QuerySet &set,
                             std::uint32_t n_acceptors);
// findSSSR(deleteSubstructs(mol, query i)): RDKit's own way, for tests
std::uint32_t sssr_count_after_delete(const RDKit::ROMol &mol,
                                      const QuerySet &set, std::uint32_t i);

// filters.cc: PAINS, Brenk and NIH alerts
FilterAlertCounts filter_alerts(const RDKit::ROMol &mol);
FilterAlertCounts filter_alerts_rdkit(const RDKit::ROMol &mol);  // for tests
FilterAlertStats filter_alert_stats();

DescriptorData descriptors(const RDKit::ROMol &mol);
QedData qed_descriptors(const RDKit::ROMol &mol);
std::uint32_t stereo_centers_rdkit(const RDKit::ROMol &mol);  // for tests
LogpMr crippen_ours(const RDKit::ROMol &mol);   // crippen.cc
LogpMr crippen_rdkit(const RDKit::ROMol &mol);  // crippen.cc

namespace detail {
// Used by descriptors(); defined in crippen.cc.
void crippen_logp_mr(const RDKit::ROMol &mol, double &logp, double &mr);
// Installs our RDKit log routing once; defined in bridge.cc.
void init_once();
// RDKit::SmartsToMol; on failure throws with the message RDKit logged.
std::unique_ptr<RDKit::ROMol> smarts_to_mol(const std::string &smarts);
}  // namespace detail

}  // namespace pharmforge
