// pharmforge-chem: 2D coordinates, SD molblocks and SVG pictures.
//
// Pictures are MolDraw2DSVG's, with its bond lines written faster (see
// SvgDrawer). Pictures and SD records both take their coordinates from
// RDKit's depictor the way MolDraw2D does for a molecule without any
// (compute2DCoords with a canonical orientation), so an exported record and
// its picture agree.
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

#include <charconv>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

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

namespace {

// MolDraw2DSVG writing bond lines and polygons (wedges) faster, byte for byte
// as RDKit 2022.09's MolDraw2DSVG::drawLine and drawPolygon write them.
//
// Why: those format every coordinate through boost::format("%.1f"), which
// builds a stream and its locale per number; that was half the time of a
// picture. Here numbers go through std::to_chars (the same correctly rounded
// "%.1f") into one string per element. Everything else (layout, atom labels,
// the header) is RDKit's. A test compares the output with MolDraw2DSVG's on
// every reference molecule, so an RDKit whose SVG differs is caught.
struct OwnStream {
  std::ostringstream out;
};

class SvgDrawer : private OwnStream, public RDKit::MolDraw2DSVG {
 public:
  // OwnStream is a base listed first, so `out` exists before MolDraw2DSVG's
  // constructor writes the SVG header into it.
  SvgDrawer(int width, int height)
      : OwnStream(), MolDraw2DSVG(width, height, out, -1, -1, kNoFreetype) {}

  std::string text() const { return out.str(); }

  using MolDraw2DSVG::drawLine;
  void drawLine(const RDGeom::Point2D &cds1, const RDGeom::Point2D &cds2,
                bool rawCoords) override {
    if (!dash().empty()) {  // dashed lines are rare: RDKit's own
      MolDraw2DSVG::drawLine(cds1, cds2, rawCoords);
      return;
    }
    RDGeom::Point2D c1 = rawCoords ? cds1 : getDrawCoords(cds1);
    RDGeom::Point2D c2 = rawCoords ? cds2 : getDrawCoords(cds2);
    std::string &o = element_;
    o.assign("<path ");
    put_classes(o);
    o += "d='M ";
    put_point(o, c1);
    o += " L ";
    put_point(o, c2);
    o += "' style='fill:none;fill-rule:evenodd;stroke:";
    put_colour(o, colour());
    o += ";stroke-width:";
    put_1f(o, getDrawLineWidth());
    o += "px;stroke-linecap:butt;stroke-linejoin:miter;stroke-opacity:1' />\n";
    out.write(o.data(), static_cast<std::streamsize>(o.size()));
  }

  void drawPolygon(const std::vector<RDGeom::Point2D> &cds,
                   bool rawCoords) override {
    if (cds.size() < 3) {  // RDKit's precondition (it throws)
      MolDraw2DSVG::drawPolygon(cds, rawCoords);
      return;
    }
    std::string &o = element_;
    o.assign("<path ");
    put_classes(o);
    o += "d='M";
    for (std::size_t i = 0; i < cds.size(); ++i) {
      o += i ? " L " : " ";
      put_point(o, rawCoords ? cds[i] : getDrawCoords(cds[i]));
    }
    out.write(o.data(), static_cast<std::streamsize>(o.size()));
    // The opacity is written with the stream's default formatting, as RDKit
    // writes it into this same stream.
    if (fillPolys()) {
      out << " Z' style='fill:";
      put_colour(out, colour());
      out << ";fill-rule:evenodd;fill-opacity:" << colour().a << ";";
    } else {
      out << "' style='fill:none;";
    }
    o.assign("stroke:");
    put_colour(o, colour());
    o += ";stroke-width:";
    put_1f(o, getDrawLineWidth());
    o += "px;stroke-linecap:butt;stroke-linejoin:miter;stroke-opacity:";
    out.write(o.data(), static_cast<std::streamsize>(o.size()));
    out << colour().a << ";' />\n";
  }

 private:
  // Atom labels as SVG <text> in the viewer's sans-serif instead of glyph
  // outlines traced with FreeType from a font file: twice as fast per
  // picture and several times smaller.
  static constexpr bool kNoFreetype = true;

  static void put_1f(std::string &o, double v) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 1);
    o.append(buf, r.ptr);
  }

  static void put_point(std::string &o, const RDGeom::Point2D &p) {
    put_1f(o, p.x);
    o += ',';
    put_1f(o, p.y);
  }

  // RDKit's DrawColourToSVG: #RRGGBB, and AA when not opaque.
  static std::string colour_hex(const RDKit::DrawColour &col) {
    static const char *hex = "0123456789ABCDEF";
    std::string res = "#";
    auto put = [&](double c) {
      int v = static_cast<int>(255 * c);
      if (v < 0 || v > 255) {
        throw std::invalid_argument("elements of the color should be between 0 and 1");
      }
      res += hex[v / 16];
      res += hex[v % 16];
    };
    put(col.r);
    put(col.g);
    put(col.b);
    if (1.0 - col.a > 1e-3) put(col.a);
    return res;
  }
  static void put_colour(std::string &o, const RDKit::DrawColour &col) {
    o += colour_hex(col);
  }
  static void put_colour(std::ostream &o, const RDKit::DrawColour &col) {
    o << colour_hex(col);
  }

  // MolDraw2DSVG::outputClasses (private there).
  void put_classes(std::string &o) const {
    if (d_activeClass.empty() && !hasActiveAtmIdx()) return;
    o += "class='";
    o += d_activeClass;
    if (hasActiveBndIdx()) {
      o += "bond-";
      o += std::to_string(getActiveBndIdx());
    }
    if (!hasActiveAtmIdx()) {
      o += "' ";
      return;
    }
    if (hasActiveBndIdx()) o += ' ';
    if (!d_activeClass.empty()) o += ' ';
    const int a1 = getActiveAtmIdx1(), a2 = getActiveAtmIdx2();
    if (a1 >= 0) {
      o += "atom-";
      o += std::to_string(a1);
    }
    if (a2 >= 0 && a2 != a1) {
      o += " atom-";
      o += std::to_string(a2);
    }
    o += "' ";
  }

  std::string element_;  // reused: one allocation per picture, not per line
};

}  // namespace

rust::String svg_2d(const RDKit::ROMol &mol, std::uint32_t width,
                    std::uint32_t height) {
  detail::init_once();
  SvgDrawer drawer(static_cast<int>(width), static_cast<int>(height));
  // drawMolecule prepares a copy (Kekulé form, Hs on chiral centres, 2D
  // coordinates, wedges) as RDKit's Python drawing functions do.
  drawer.drawMolecule(mol);
  drawer.finishDrawing();
  return rust::String(drawer.text());
}

rust::String svg_2d_rdkit(const RDKit::ROMol &mol, std::uint32_t width,
                          std::uint32_t height) {
  detail::init_once();
  RDKit::MolDraw2DSVG drawer(static_cast<int>(width), static_cast<int>(height),
                             -1, -1, /*noFreetype=*/true);
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
