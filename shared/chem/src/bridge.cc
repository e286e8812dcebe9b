// pharmforge-chem: the C++ half of our cxx bridge over the system RDKit:
// logging, parsing and writing molecules, atom/bond views, descriptors.
// (SMARTS matching and Crippen logP live in matching.cc.)
//
// Why this file exists: RDKit is a C++ library; cxx needs plain functions with
// simple signatures. Each function here is a few lines over one RDKit call.
// Chemistry decisions (which descriptor definition, how QED is assembled)
// live on the Rust side, where they are documented and tested.
//
// Error handling: RDKit reports SMILES syntax errors only through its error
// log (SmilesToMol returns nullptr), so we route rdErrorLog into a per-thread
// buffer and turn what it captured into the exception message. Every other
// RDKit log is disabled, so nothing is ever written to stderr.

#include "pharmforge-chem/include/bridge.h"
#include "pharmforge-chem/src/ffi.rs.h"

#include <GraphMol/Chirality.h>
#include <GraphMol/Descriptors/Crippen.h>
#include <GraphMol/Descriptors/Lipinski.h>
#include <GraphMol/Descriptors/MolDescriptors.h>
#include <GraphMol/Descriptors/MolSurf.h>
#include <GraphMol/FileParsers/FileParsers.h>
#include <GraphMol/GraphMol.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <RDGeneral/RDConfig.h>
#include <RDGeneral/RDLog.h>
#include <RDGeneral/versions.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <streambuf>
#include <string>

namespace pharmforge {
namespace {

// ---------------------------------------------------------------- logging --

constexpr std::size_t kMaxCapture = 2048;
thread_local std::string *tls_sink = nullptr;

// A stream buffer that appends to whatever buffer the *calling thread* has
// installed (and drops the text when it has none), so concurrent parses on
// different threads never see each other's messages.
class ThreadSinkBuf final : public std::streambuf {
 protected:
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof()) && tls_sink &&
        tls_sink->size() < kMaxCapture) {
      tls_sink->push_back(traits_type::to_char_type(ch));
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char *s, std::streamsize n) override {
    if (tls_sink && tls_sink->size() < kMaxCapture && n > 0) {
      std::size_t room = kMaxCapture - tls_sink->size();
      tls_sink->append(s, std::min(room, static_cast<std::size_t>(n)));
    }
    return n;
  }
  int sync() override { return 0; }
};

// Installs a per-thread capture buffer for the duration of one RDKit call.
class LogCapture {
 public:
  LogCapture() : prev_(tls_sink) { tls_sink = &buf_; }
  ~LogCapture() { tls_sink = prev_; }
  LogCapture(const LogCapture &) = delete;
  LogCapture &operator=(const LogCapture &) = delete;

  // The first captured line without RDKit's "[hh:mm:ss] " prefix (RDKit
  // logs the specific diagnostic first, then a generic "Failed parsing ...
  // for input: ..." line); `fallback` when nothing was logged.
  std::string message(const char *fallback) const {
    std::size_t pos = 0;
    while (pos < buf_.size()) {
      std::size_t end = buf_.find('\n', pos);
      if (end == std::string::npos) end = buf_.size();
      std::string line = buf_.substr(pos, end - pos);
      pos = end + 1;
      if (line.size() > 11 && line[0] == '[' && line[9] == ']' &&
          line[10] == ' ') {
        line.erase(0, 11);
      }
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.pop_back();
      }
      if (!line.empty()) return line;
    }
    return std::string(fallback);
  }

 private:
  std::string buf_;
  std::string *prev_;
};

std::string to_std(rust::Str s) { return std::string(s.data(), s.size()); }

}  // namespace

// ---------------------------------------------------------------- logging --

void detail::init_once() {
  static std::once_flag flag;
  std::call_once(flag, [] {
    for (RDLogger *log : {&rdAppLog, &rdDebugLog, &rdInfoLog, &rdWarningLog,
                          &rdStatusLog}) {
      if (*log) {
        (*log)->df_enabled = false;
      }
    }
    // Leaked on purpose: rdErrorLog is a global that outlives us and flushes
    // its stream at exit.
    auto *stream = new std::ostream(new ThreadSinkBuf());
    rdErrorLog = std::make_shared<boost::logging::rdLogger>(stream);
  });
}

// ------------------------------------------------------------- molecules --

rust::String rdkit_version() { return rust::String(RDKit::rdkitVersion); }

std::unique_ptr<RDKit::ROMol> mol_from_smiles(rust::Str smiles) {
  detail::init_once();
  LogCapture capture;
  // Same defaults as Python's Chem.MolFromSmiles: sanitize, remove Hs.
  RDKit::SmilesParserParams params;
  std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol(to_std(smiles), params));
  if (!mol) {
    throw std::runtime_error(capture.message("SMILES Parse Error"));
  }
  return std::unique_ptr<RDKit::ROMol>(mol.release());
}

std::uint32_t smiles_atom_count(rust::Str smiles) {
  detail::init_once();
  LogCapture capture;
  // Parsing without sanitization or stereo perception is linear in the
  // input; the full parse is not (see MAX_ATOMS on the Rust side).
  RDKit::SmilesParserParams params;
  params.sanitize = false;
  params.removeHs = false;
  std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol(to_std(smiles), params));
  if (!mol) {
    throw std::runtime_error(capture.message("SMILES Parse Error"));
  }
  return mol->getNumAtoms();
}

std::unique_ptr<RDKit::ROMol> detail::smarts_to_mol(const std::string &smarts) {
  detail::init_once();
  LogCapture capture;
  std::unique_ptr<RDKit::ROMol> mol(RDKit::SmartsToMol(smarts));
  if (!mol) {
    throw std::runtime_error(capture.message("SMARTS Parse Error"));
  }
  return mol;
}

std::unique_ptr<RDKit::ROMol> mol_from_molblock(rust::Str molblock) {
  detail::init_once();
  LogCapture capture;
  // SDMolSupplier's defaults: sanitize, remove Hs, strict parsing. Sanitize
  // and parse errors are thrown (MolSanitizeException, FileParseException)
  // with RDKit's message; a null result is explained only in the log.
  std::unique_ptr<RDKit::RWMol> mol(
      RDKit::MolBlockToMol(to_std(molblock), true, true, true));
  if (!mol) {
    throw std::runtime_error(capture.message("RDKit read no molecule from the molblock"));
  }
  return std::unique_ptr<RDKit::ROMol>(mol.release());
}

std::unique_ptr<RDKit::ROMol> remove_hs(const RDKit::ROMol &mol) {
  // Python's Chem.RemoveHs defaults: not implicit-only, no count update,
  // sanitize the result.
  return std::unique_ptr<RDKit::ROMol>(RDKit::MolOps::removeHs(mol));
}

rust::String mol_to_smiles(const RDKit::ROMol &mol) {
  return rust::String(RDKit::MolToSmiles(mol));
}

rust::String mol_to_molblock(const RDKit::ROMol &mol, bool with_coords) {
  // includeStereo=true makes RDKit compute 2D coordinates and wedges (slow);
  // without it every coordinate is 0.
  return rust::String(RDKit::MolToMolBlock(mol, with_coords));
}

bool has_specified_stereo(const RDKit::ROMol &mol) {
  for (const auto atom : mol.atoms()) {
    if (atom->getChiralTag() != RDKit::Atom::CHI_UNSPECIFIED) return true;
  }
  for (const auto bond : mol.bonds()) {
    if (bond->getStereo() > RDKit::Bond::STEREOANY) return true;
  }
  return false;
}

// ------------------------------------------------------- atoms and bonds --

std::uint32_t num_atoms(const RDKit::ROMol &mol) { return mol.getNumAtoms(); }
std::uint32_t num_bonds(const RDKit::ROMol &mol) { return mol.getNumBonds(); }

bool has_hydrogen_atoms(const RDKit::ROMol &mol) {
  for (const auto atom : mol.atoms()) {
    if (atom->getAtomicNum() == 1) return true;
  }
  return false;
}

AtomData atom_data(const RDKit::ROMol &mol, std::uint32_t idx) {
  if (idx >= mol.getNumAtoms()) throw std::out_of_range("atom index out of range");
  const RDKit::Atom *a = mol.getAtomWithIdx(idx);
  AtomData d;
  d.atomic_num = a->getAtomicNum();
  d.total_degree = a->getTotalDegree();
  d.formal_charge = a->getFormalCharge();
  d.chiral_tag = static_cast<std::uint32_t>(a->getChiralTag());
  d.total_num_hs = a->getTotalNumHs();
  d.hybridization = static_cast<std::uint32_t>(a->getHybridization());
  d.is_aromatic = a->getIsAromatic();
  d.mass = a->getMass();
  return d;
}

BondData bond_data(const RDKit::ROMol &mol, std::uint32_t idx) {
  if (idx >= mol.getNumBonds()) throw std::out_of_range("bond index out of range");
  if (!mol.getRingInfo()->isInitialized()) RDKit::MolOps::findSSSR(mol);
  const RDKit::Bond *b = mol.getBondWithIdx(idx);
  BondData d;
  d.begin = b->getBeginAtomIdx();
  d.end = b->getEndAtomIdx();
  d.bond_type = static_cast<std::uint32_t>(b->getBondType());
  d.is_conjugated = b->getIsConjugated();
  d.in_ring = mol.getRingInfo()->numBondRings(idx) > 0;
  d.stereo = static_cast<std::uint32_t>(b->getStereo());
  return d;
}

// ----------------------------------------------------------- descriptors --

namespace {

// True if `center` has two terminal neighbours whose swap maps the molecule
// onto itself (same element, isotope, charge, H count, radicals,
// aromaticity and chiral tag; bonds of the same type, stereo and direction):
// then findPotentialStereo's symmetry classes give those two neighbours the
// same rank in every round, the centre always has a duplicate neighbour rank
// (the ring-stereo exception needs ring bonds, and a terminal atom's bond is
// not one) and it is never reported as a tetrahedral centre. CF3, isopropyl
// and tert-butyl carbons are such centres.
bool cannot_be_tetrahedral_center(const RDKit::ROMol &mol, const RDKit::Atom *center) {
  std::vector<std::pair<const RDKit::Atom *, const RDKit::Bond *>> terminal;
  for (const auto b : mol.atomBonds(center)) {
    const RDKit::Atom *a = b->getOtherAtom(center);
    if (a->getDegree() == 1) terminal.emplace_back(a, b);
  }
  auto twins = [](const std::pair<const RDKit::Atom *, const RDKit::Bond *> &x,
                  const std::pair<const RDKit::Atom *, const RDKit::Bond *> &y) {
    const RDKit::Atom *a = x.first, *b = y.first;
    const RDKit::Bond *p = x.second, *q = y.second;
    return a->getAtomicNum() == b->getAtomicNum() && a->getIsotope() == b->getIsotope() &&
           a->getFormalCharge() == b->getFormalCharge() &&
           a->getTotalNumHs() == b->getTotalNumHs() &&
           a->getNumRadicalElectrons() == b->getNumRadicalElectrons() &&
           a->getIsAromatic() == b->getIsAromatic() && a->getChiralTag() == b->getChiralTag() &&
           a->getNoImplicit() == b->getNoImplicit() &&
           a->getNumExplicitHs() == b->getNumExplicitHs() &&
           p->getBondType() == q->getBondType() && p->getStereo() == q->getStereo() &&
           p->getBondDir() == q->getBondDir() && p->getIsAromatic() == q->getIsAromatic() &&
           p->getIsConjugated() == q->getIsConjugated();
  };
  for (std::size_t i = 0; i < terminal.size(); ++i) {
    for (std::size_t j = i + 1; j < terminal.size(); ++j) {
      if (twins(terminal[i], terminal[j])) return true;
    }
  }
  return false;
}

}  // namespace


DescriptorData descriptors(const RDKit::ROMol &mol) {
  namespace D = RDKit::Descriptors;
  DescriptorData d;
  d.amw = D::calcAMW(mol);
  d.exact_mw = D::calcExactMW(mol);
  d.formula = rust::String(D::calcMolFormula(mol));
  detail::crippen_logp_mr(mol, d.logp, d.mr);
  d.tpsa = D::calcTPSA(mol);
  d.hbd = D::calcNumHBD(mol);
  d.num_rings = D::calcNumRings(mol);
  d.num_aromatic_rings = D::calcNumAromaticRings(mol);
  d.num_heavy_atoms = mol.getNumHeavyAtoms();
  d.num_atoms_total = D::calcNumAtoms(mol);
  d.fraction_csp3 = D::calcFractionCSP3(mol);
  d.formal_charge = RDKit::MolOps::getFormalCharge(mol);
  // Python: len(FindMolChiralCenters(m, includeUnassigned=True,
  // useLegacyImplementation=False)) == the tetrahedral entries of
  // FindPotentialStereo(m, cleanIt=False, flagPossible=True). Like RDKit's own
  // const overload we cast away const: with cleanIt=false only caches change.
  // It reports tetrahedral entries only for atoms that pass
  // isAtomPotentialStereoAtom and whose getStereoInfo type is tetrahedral,
  // and not for those cannot_be_tetrahedral_center rules out; with no other
  // atom it is skipped (same answer: 0).
  std::uint32_t centers = 0;
  bool candidates = !mol.getRingInfo()->isInitialized() || mol.needsUpdatePropertyCache();
  for (const auto atom : mol.atoms()) {
    if (candidates) break;
    namespace C = RDKit::Chirality;
    candidates = C::detail::isAtomPotentialStereoAtom(atom) &&
                 C::detail::getStereoInfo(atom).type == C::StereoType::Atom_Tetrahedral &&
                 !cannot_be_tetrahedral_center(mol, atom);
  }
  if (candidates) {
    auto &m = const_cast<RDKit::ROMol &>(mol);
    for (const auto &si : RDKit::Chirality::findPotentialStereo(m, false, true)) {
      if (si.type == RDKit::Chirality::StereoType::Atom_Tetrahedral) ++centers;
    }
  }
  d.stereo_centers = centers;
  return d;
}

std::uint32_t stereo_centers_rdkit(const RDKit::ROMol &mol) {
  std::uint32_t centers = 0;
  auto &m = const_cast<RDKit::ROMol &>(mol);
  for (const auto &si : RDKit::Chirality::findPotentialStereo(m, false, true)) {
    if (si.type == RDKit::Chirality::StereoType::Atom_Tetrahedral) ++centers;
  }
  return centers;
}

QedData qed_descriptors(const RDKit::ROMol &mol) {
  namespace D = RDKit::Descriptors;
  QedData d;
  d.amw = D::calcAMW(mol);
  double mr;
  detail::crippen_logp_mr(mol, d.logp, mr);
  d.hbd = D::calcNumHBD(mol);
  d.tpsa = D::calcTPSA(mol);
  return d;
}

}  // namespace pharmforge
