// pharmforge-chem: the IUPAC InChI library's input, read straight off an
// RDKit molecule.
//
// Why this file exists: writing a molblock (with a 2D layout when the
// molecule has stereo) and having the InChI library parse it back cost more
// than the InChI itself. RDKit's own MolToInchi (External/INCHI-API, which
// Debian's build leaves out) instead fills the library's inchi_Input from the
// molecule: a Kekule copy, no coordinates, implicit H left to the library for
// C N O F Cl Br I and given for everything else, isotopes as shifts from the
// rounded average mass, and stereo as 0D parities (tetrahedral centres from
// chiral tags, double bonds from E/Z or cis/trans and their stereo atoms).
// We produce the same input here, as plain values; inchi.rs hands them to
// the library through the `inchi` crate. Inputs that crate cannot express
// (a bond that is not single, double or triple after kekulization, or a
// wedge/wavy bond direction) are flagged so that inchi.rs can fall back to
// the molblock route.

#include "pharmforge-chem/include/bridge.h"
#include "pharmforge-chem/src/ffi.rs.h"

#include <GraphMol/MolOps.h>
#include <GraphMol/PeriodicTable.h>
#include <GraphMol/RWMol.h>

#include <utility>

namespace pharmforge {
namespace {

constexpr std::uint8_t kParityOdd = 1, kParityEven = 2, kParityUnknown = 3;
constexpr std::int32_t kIsotopicShiftFlag = 10000;  // inchi_api.h

// RDKit's sanitization writes perchlorate-like groups as [Cl+3]([O-])...;
// RDKit's MolToInchi turns them back into Cl(=O)(=O)... before calling the
// library (its "reverse clean-up"): with three [O-] and a fourth O of any
// charge on a [Cl+3] (all single bonds), the O that is not charged (or, if
// all four are, one of them) keeps its single bond, the other three become
// neutral =O, and the chlorine neutral.
void undo_perchlorate_cleanup(RDKit::RWMol &m) {
  for (auto cl : m.atoms()) {
    if (cl->getAtomicNum() != 17 || cl->getFormalCharge() != 3) continue;
    std::vector<RDKit::Bond *> charged, other;
    for (auto b : m.atomBonds(cl)) {
      const RDKit::Atom *o = b->getOtherAtom(cl);
      if (o->getAtomicNum() != 8 || b->getBondType() != RDKit::Bond::SINGLE) continue;
      (o->getFormalCharge() == -1 ? charged : other).push_back(b);
    }
    if (charged.size() < 3 || charged.size() + other.size() < 4) continue;
    // the four oxygens of the group; the one that stays singly bonded first
    std::vector<RDKit::Bond *> group;
    if (!other.empty()) {
      group = {other[0], charged[0], charged[1], charged[2]};
    } else {
      group = {charged[0], charged[1], charged[2], charged[3]};
    }
    for (std::size_t i = 1; i < group.size(); ++i) {
      group[i]->setBondType(RDKit::Bond::DOUBLE);
      group[i]->getOtherAtom(cl)->setFormalCharge(0);
    }
    cl->setFormalCharge(0);
  }
}

bool has_perchlorate_form(const RDKit::ROMol &mol) {
  for (const auto a : mol.atoms()) {
    if (a->getAtomicNum() == 17 && a->getFormalCharge() == 3) return true;
  }
  return false;
}

// Kekulizes a molecule in place for the lifetime of this object, then gives
// every bond its aromatic type back. Kekulize(mol, markAtomsBonds=false)
// changes nothing but the types of aromatic bonds (it recomputes implicit
// valences to the values they had, and checks them), so this leaves the
// molecule as it found it, without the cost of copying it.
class KekuleView {
 public:
  explicit KekuleView(RDKit::RWMol &mol) {
    for (const auto b : mol.bonds()) {
      if (b->getBondType() == RDKit::Bond::AROMATIC) aromatic_.push_back(b);
    }
    try {
      RDKit::MolOps::Kekulize(mol, false);
    } catch (...) {
      restore();
      throw;
    }
  }
  ~KekuleView() { restore(); }
  KekuleView(const KekuleView &) = delete;
  KekuleView &operator=(const KekuleView &) = delete;

 private:
  void restore() {
    for (auto b : aromatic_) b->setBondType(RDKit::Bond::AROMATIC);
  }
  std::vector<RDKit::Bond *> aromatic_;
};

InchiInput fill_input(const RDKit::ROMol &m);

}  // namespace

InchiInput inchi_input(const RDKit::ROMol &mol) {
  // A Molecule owns an RWMol (SmilesToMol, removeHs make them), which no
  // other thread can be using (Molecule is !Sync).
  auto *rw = dynamic_cast<RDKit::RWMol *>(const_cast<RDKit::ROMol *>(&mol));
  if (rw && !has_perchlorate_form(mol)) {
    KekuleView kekule(*rw);
    return fill_input(*rw);
  }
  RDKit::RWMol m(mol);
  RDKit::MolOps::Kekulize(m, false);
  if (has_perchlorate_form(m)) undo_perchlorate_cleanup(m);
  return fill_input(m);
}

namespace {

InchiInput fill_input(const RDKit::ROMol &m) {
  const RDKit::PeriodicTable *table = RDKit::PeriodicTable::getTable();
  InchiInput in;
  in.expressible = true;
  in.atoms.reserve(m.getNumAtoms());
  for (const auto atom : m.atoms()) {
    InchiAtom a;
    const int z = atom->getAtomicNum();
    a.symbol = rust::String(table->getElementSymbol(z));
    a.isotopic_mass = 0;
    if (const int iso = static_cast<int>(atom->getIsotope())) {
      a.isotopic_mass = kIsotopicShiftFlag + iso -
                        static_cast<int>(table->getAtomicWeight(z) + 0.5);
    }
    a.charge = atom->getFormalCharge();
    switch (z) {
      case 6: case 7: case 8: case 9: case 17: case 35: case 53:
        a.implicit_h = -1;  // the library applies its own valence rules
        break;
      default:
        a.implicit_h = static_cast<std::int32_t>(atom->getTotalNumHs());
    }
    // Radicals are not passed as such: the H count carries them.
    if (atom->getNumRadicalElectrons()) {
      a.implicit_h = static_cast<std::int32_t>(atom->getTotalNumHs());
    }
    in.atoms.push_back(std::move(a));

    const auto tag = atom->getChiralTag();
    if (tag != RDKit::Atom::CHI_TETRAHEDRAL_CW &&
        tag != RDKit::Atom::CHI_TETRAHEDRAL_CCW) {
      continue;
    }
    const unsigned total_degree = atom->getTotalDegree();
    if (total_degree < 3 || total_degree > 4) continue;
    // Neighbours in the order the chiral tag refers to; with three, the
    // centre itself stands for the implicit H or lone pair, first.
    InchiStereo s;
    s.double_bond = false;
    s.central_atom = static_cast<std::int32_t>(atom->getIdx());
    std::size_t k = 0;
    if (atom->getDegree() == 3) s.neighbors[k++] = atom->getIdx();
    for (const auto nbr : m.atomNeighbors(atom)) {
      if (k == 4) break;
      s.neighbors[k++] = nbr->getIdx();
    }
    if (k != 4) continue;  // degree < 3: RDKit passes no usable element
    if (atom->getDegree() == 4) {
      s.parity = tag == RDKit::Atom::CHI_TETRAHEDRAL_CW ? kParityEven : kParityOdd;
    } else {
      s.parity = tag == RDKit::Atom::CHI_TETRAHEDRAL_CCW ? kParityEven : kParityOdd;
    }
    in.stereo.push_back(s);
  }

  in.bonds.reserve(m.getNumBonds());
  for (const auto bond : m.bonds()) {
    InchiBond b;
    b.begin = bond->getBeginAtomIdx();
    b.end = bond->getEndAtomIdx();
    const auto type = bond->getBondType();
    b.order = static_cast<std::uint8_t>(type);
    if (type != RDKit::Bond::SINGLE && type != RDKit::Bond::DOUBLE &&
        type != RDKit::Bond::TRIPLE) {
      in.expressible = false;  // RDKit passes "unspecified"; the crate can't
    }
    switch (bond->getBondDir()) {
      case RDKit::Bond::BEGINWEDGE:
      case RDKit::Bond::BEGINDASH:
      case RDKit::Bond::EITHERDOUBLE:
      case RDKit::Bond::UNKNOWN:
        in.expressible = false;  // bond_stereo: not expressible either
        break;
      default:
        break;
    }
    in.bonds.push_back(b);

    const unsigned lo = std::min(b.begin, b.end), hi = std::max(b.begin, b.end);
    const auto stereo = bond->getStereo();
    if (stereo > RDKit::Bond::STEREOANY && bond->getStereoAtoms().size() >= 2) {
      InchiStereo s;
      s.double_bond = true;
      s.central_atom = -1;
      s.parity = (stereo == RDKit::Bond::STEREOZ || stereo == RDKit::Bond::STEREOCIS)
                     ? kParityOdd
                     : kParityEven;
      s.neighbors = {static_cast<std::uint32_t>(bond->getStereoAtoms()[0]), lo, hi,
                     static_cast<std::uint32_t>(bond->getStereoAtoms()[1])};
      if (!m.getBondBetweenAtoms(s.neighbors[0], s.neighbors[1])) {
        std::swap(s.neighbors[0], s.neighbors[3]);
      }
      in.stereo.push_back(s);
    } else if (stereo == RDKit::Bond::STEREOANY) {
      // Unknown configuration: the first other neighbour on each side.
      int left = -1, right = -1;
      for (const auto nbr : m.atomNeighbors(m.getAtomWithIdx(lo))) {
        if (nbr->getIdx() != hi) { left = static_cast<int>(nbr->getIdx()); break; }
      }
      for (const auto nbr : m.atomNeighbors(m.getAtomWithIdx(hi))) {
        if (nbr->getIdx() != lo) { right = static_cast<int>(nbr->getIdx()); break; }
      }
      if (left >= 0 && right >= 0) {
        InchiStereo s;
        s.double_bond = true;
        s.central_atom = -1;
        s.parity = kParityUnknown;
        s.neighbors = {static_cast<std::uint32_t>(left), lo, hi,
                       static_cast<std::uint32_t>(right)};
        if (!m.getBondBetweenAtoms(s.neighbors[0], s.neighbors[1])) {
          std::swap(s.neighbors[0], s.neighbors[3]);
        }
        in.stereo.push_back(s);
      }
    }
  }
  return in;
}

}  // namespace
}  // namespace pharmforge
