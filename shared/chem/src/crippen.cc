// pharmforge-chem: Wildman-Crippen logP and MR, exactly as RDKit's
// calcCrippenDescriptors computes them, on our matcher (include/matcher.h).
//
// RDKit's algorithm: add Hs; go through its parameter table in order; for
// each parameter's SMARTS, SubstructMatch (uniquify=false, at most 1000
// embeddings) and give every still-untyped atom that is the image of the
// pattern's first atom that parameter's contributions; sum in atom order.
//
// Why here: ~110 SubstructMatch calls per molecule were the largest single
// cost of a molecule's properties. We use RDKit's own parameter table and the
// same rule, with exact shortcuts: a parameter is skipped when its first
// atom matches no still-untyped atom or some pattern atom has no element
// present; the embeddings come from our matcher, which only looks for one
// embedding per untyped atom when there cannot be 1000 in all (else it
// enumerates them); and RDKit itself runs the pattern when there are 1000 or
// more (where RDKit's result depends on which it found first). `crippen_matches_rdkit` in
// tests/ checks the result against calcCrippenDescriptors bit for bit.

#include "pharmforge-chem/include/bridge.h"
#include "pharmforge-chem/src/ffi.rs.h"

#include <GraphMol/Descriptors/Crippen.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/RWMol.h>
#include <GraphMol/Substruct/SubstructMatch.h>

namespace pharmforge {

void detail::crippen_logp_mr(const RDKit::ROMol &mol, double &logp, double &mr) {
  struct Params {
    QuerySet set;
    std::vector<double> logp, mr;
  };
  static const Params *params = [] {
    auto *p = new Params();  // leaked: lives as long as RDKit's own table
    for (const auto &c : *RDKit::Descriptors::CrippenParamCollection::getParams()) {
      p->set.add_borrowed(c.dp_pattern.get());
      p->logp.push_back(c.logp);
      p->mr.push_back(c.mr);
    }
    return p;
  }();
  const QuerySet &set = params->set;

  // RDKit adds Hs to a full copy; the matcher needs only the graph, atoms
  // and ring info, which a quick copy (no conformers, molecule properties,
  // bookmarks or stereo groups) has too.
  auto work = std::make_unique<RDKit::RWMol>(mol, true);
  RDKit::MolOps::addHs(*work, false, false);
  const unsigned n = work->getNumAtoms();
  std::vector<double> logp_contribs(n, 0.0), mr_contribs(n, 0.0);
  std::vector<char> needed(n, 1), hit(n, 0);
  unsigned remaining = n;
  Matcher matcher(set, *work);
  for (std::size_t i = 0; i < set.size() && remaining; ++i) {
    const int q = set.top(i);
    const int key0 = set.query(q).keys[0];
    if (!matcher.elements_present(q)) continue;
    bool any_needed = false;
    const unsigned first_candidates = matcher.count_key_atoms(key0, needed, any_needed);
    if (!any_needed) continue;

    std::fill(hit.begin(), hit.end(), 0);
    auto outcome = Matcher::Outcome::Complete;
    if (matcher.embedding_bound(q, first_candidates) < Matcher::kRdkitLimit) {
      // RDKit sees every embedding: enough to know which untyped atoms have one
      for (unsigned a = 0; a < n && outcome == Matcher::Outcome::Complete; ++a) {
        if (!needed[a] || !matcher.atom_matches(key0, a)) continue;
        outcome = matcher.embeddings(q, 0, static_cast<int>(a), 0,
                                     [&](const std::vector<unsigned> &) {
                                       hit[a] = 1;
                                       return true;
                                     });
      }
    } else {
      outcome = matcher.embeddings(q, 0, -1, Matcher::kRdkitLimit,
                                   [&](const std::vector<unsigned> &e) {
                                     hit[e[0]] = 1;
                                     return false;
                                   });
    }
    if (outcome != Matcher::Outcome::Complete) {
      std::fill(hit.begin(), hit.end(), 0);
      std::vector<RDKit::MatchVectType> matches;
      RDKit::SubstructMatch(*work, set.mol(i), matches, false, true);
      for (const auto &match : matches) hit[match[0].second] = 1;
    }
    for (unsigned a = 0; a < n; ++a) {
      if (hit[a] && needed[a]) {
        needed[a] = 0;
        --remaining;
        logp_contribs[a] = params->logp[i];
        mr_contribs[a] = params->mr[i];
      }
    }
  }
  logp = 0.0;
  for (double v : logp_contribs) logp += v;
  mr = 0.0;
  for (double v : mr_contribs) mr += v;
}

LogpMr crippen_ours(const RDKit::ROMol &mol) {
  LogpMr r;
  detail::crippen_logp_mr(mol, r.logp, r.mr);
  return r;
}

LogpMr crippen_rdkit(const RDKit::ROMol &mol) {
  LogpMr r;
  RDKit::Descriptors::calcCrippenDescriptors(mol, r.logp, r.mr, true, true);
  return r;
}

}  // namespace pharmforge
