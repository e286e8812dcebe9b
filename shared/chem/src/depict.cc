// pharmforge-chem: 2D coordinates, SD molblocks and SVG pictures.
//
// Both pictures and SD records take their coordinates from RDKit's depictor
// the way MolDraw2D does for a molecule without any (compute2DCoords with a
// canonical orientation), so an exported record and its picture agree.
// The data items of an SD record are written and read on the Rust side
// (`sdf.rs`); SDWriter and SDMolSupplier appear here only so that tests can
// hold our records against RDKit's own.

#include "pharmforge-chem/include/bridge.h"
#include "pharmforge-chem/src/ffi.rs.h"

#include <GraphMol/Depictor/RDDepictor.h>
#include <GraphMol/FileParsers/FileParsers.h>
#include <GraphMol/FileParsers/MolSupplier.h>
#include <GraphMol/FileParsers/MolWriters.h>
#include <GraphMol/GraphMol.h>
#include <GraphMol/MolDraw2D/MolDraw2DSVG.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>

#include <memory>
#include <string>

namespace pharmforge {
namespace {

std::string to_std(rust::Str s) { return std::string(s.data(), s.size()); }

// A copy of `mol` with 2D coordinates and `title` as its name.
std::unique_ptr<RDKit::RWMol> with_2d_coords(const RDKit::ROMol &mol,
                                             rust::Str title) {
  auto m = std::make_unique<RDKit::RWMol>(mol);
  // MolDraw2DUtils::prepareMolForDrawing's call.
  RDDepict::compute2DCoords(*m, nullptr, /*canonOrient=*/true);
  m->setProp(RDKit::common_properties::_Name, to_std(title));
  return m;
}

}  // namespace

rust::String molblock_2d(const RDKit::ROMol &mol, rust::Str title,
                         rust::Str header_line) {
  detail::init_once();
  auto m = with_2d_coords(mol, title);
  // Header line 2, which RDKit otherwise fills in itself. (SDWriter would
  // also write this property as a data item: it skips "_MolFileInfo", but
  // the name is "MolFileInfo".)
  m->setProp(RDKit::common_properties::MolFileInfo, to_std(header_line));
  // What SDWriter writes: wedges from the coordinates, Kekulé bonds, V2000
  // unless the molecule needs V3000.
  return rust::String(RDKit::MolToMolBlock(*m, /*includeStereo=*/true,
                                           /*confId=*/-1, /*kekulize=*/true,
                                           /*forceV3000=*/false));
}

rust::String svg_2d(const RDKit::ROMol &mol, std::uint32_t width,
                    std::uint32_t height) {
  detail::init_once();
  // noFreetype: atom labels become SVG <text> in the browser's sans-serif
  // instead of glyph outlines traced with FreeType from a font file, which
  // takes twice as long per picture and makes the SVG several times larger.
  RDKit::MolDraw2DSVG drawer(static_cast<int>(width), static_cast<int>(height),
                             -1, -1, /*noFreetype=*/true);
  // drawMolecule prepares a copy (Kekulé form, Hs on chiral centres, 2D
  // coordinates, wedges) as RDKit's Python drawing functions do.
  drawer.drawMolecule(mol);
  drawer.finishDrawing();
  return rust::String(drawer.getDrawingText());
}

rust::String sd_writer_text(const RDKit::ROMol &mol, rust::Str title,
                            rust::Slice<const rust::Str> tags,
                            rust::Slice<const rust::Str> values) {
  detail::init_once();
  if (tags.size() != values.size()) {
    throw std::invalid_argument("tags and values differ in length");
  }
  auto m = with_2d_coords(mol, title);
  for (std::size_t i = 0; i < tags.size(); ++i) {
    m->setProp(to_std(tags[i]), to_std(values[i]));
  }
  return rust::String(RDKit::SDWriter::getText(*m));
}

SdSupplierRead sd_supplier_read(rust::Str record) {
  detail::init_once();
  SdSupplierRead out;
  RDKit::SDMolSupplier supplier;
  std::string data = to_std(record);
  if (!data.empty() && data.back() != '\n') data += '\n';
  supplier.setData(data + "$$$$\n");
  std::unique_ptr<RDKit::ROMol> mol;
  try {
    mol.reset(supplier.next());
  } catch (const std::exception &e) {
    out.error = rust::String(e.what());
    return out;
  }
  if (!mol) {
    out.error = rust::String("SDMolSupplier returned no molecule");
    return out;
  }
  out.smiles = rust::String(RDKit::MolToSmiles(*mol));
  std::string text;
  mol->getPropIfPresent(RDKit::common_properties::_Name, text);
  out.title = rust::String(text);
  for (const auto &name : mol->getPropList(/*includePrivate=*/false,
                                           /*includeComputed=*/false)) {
    mol->getProp(name, text);
    out.tags.push_back(rust::String(name));
    out.values.push_back(rust::String(text));
  }
  return out;
}

}  // namespace pharmforge
