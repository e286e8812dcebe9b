#!/usr/bin/env python3
"""Test molecules for the SD and picture tests of pharmforge-chem, made once
with RDKit's Python API and committed (the tests need no Python).

usage: make_sd_test_set.py REFERENCE_DIR OUT_DIR

The reference molecules (shared/data/reference) hold almost no stereo and
few charges, which are what a molblock must carry over. So from them:
  stereo_charged.smi   every reference molecule with unassigned tetrahedral
                       or double-bond stereo, once with each of its first two
                       stereoisomers; every one with a basic amine, protonated;
                       every carboxylic acid as its carboxylate, half of them
                       as sodium salts. One SMILES a line, then a tab and where
                       it came from.
  rdkit_written.sdf    the first 40 of those (and 10 with 3D coordinates from
                       ETKDG, seed 42) as written by this RDKit's SDWriter,
                       each with its SMILES as data item `smiles`, so that the
                       tests read an SD file another RDKit release wrote.
"""
import json, pathlib, sys

from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem import AllChem
from rdkit.Chem.EnumerateStereoisomers import (
    EnumerateStereoisomers, StereoEnumerationOptions)

RDLogger.DisableLog("rdApp.*")

BASIC_AMINE = Chem.MolFromSmarts(
    "[NX3;H2,H1,H0;+0;!$(N-[a,#6]=[O,S,N]);!$(N-S(=O)=O);!$(N-a);!$(N#*);!$(N=*)]")
ACID = Chem.MolFromSmarts("[CX3](=O)[OX2H1]")


def reference(ref_dir):
    out = []
    for name in ("edge_cases.rdkit.jsonl", "cdk2_47.rdkit.jsonl",
                 "chembl_cmet_1017.rdkit.jsonl"):
        for line in open(ref_dir / name):
            d = json.loads(line)
            if d["valid"]:
                out.append((d["smiles"], f"{name}:{len(out) + 1}"))
    return out


def stereoisomers(m):
    opts = StereoEnumerationOptions(onlyUnassigned=True, maxIsomers=2, unique=True)
    isomers = [Chem.MolToSmiles(x) for x in EnumerateStereoisomers(m, options=opts)]
    return isomers if isomers != [Chem.MolToSmiles(m)] else []


def with_charge(m, pattern, change):
    hits = m.GetSubstructMatches(pattern)
    if not hits:
        return None
    rw = Chem.RWMol(m)
    atom = rw.GetAtomWithIdx(hits[0][-1] if pattern is ACID else hits[0][0])
    atom.SetFormalCharge(change)
    atom.SetNumExplicitHs(max(0, atom.GetTotalNumHs() + change))
    atom.SetNoImplicit(True)
    Chem.SanitizeMol(rw)
    return Chem.MolToSmiles(rw)


def main(ref_dir, out_dir):
    rows, seen = [], set()

    def add(smi, why):
        if smi and smi not in seen and Chem.MolFromSmiles(smi) is not None:
            seen.add(smi)
            rows.append((smi, why))

    acids = 0
    for smi, where in reference(ref_dir):
        m = Chem.MolFromSmiles(smi)
        for s in stereoisomers(m):
            add(s, f"stereoisomer of {where}")
        add(with_charge(m, BASIC_AMINE, +1), f"protonated amine of {where}")
        carboxylate = with_charge(m, ACID, -1)
        if carboxylate:
            acids += 1
            add(carboxylate if acids % 2 else carboxylate + ".[Na+]",
                f"carboxylate of {where}")

    with open(out_dir / "stereo_charged.smi", "w") as f:
        f.write(f"# made by tools/make_sd_test_set.py with RDKit {rdBase.rdkitVersion}\n")
        for smi, why in rows:
            f.write(f"{smi}\t{why}\n")

    w = Chem.SDWriter(str(out_dir / "rdkit_written.sdf"))
    for i, (smi, why) in enumerate(rows[:50]):
        m = Chem.MolFromSmiles(smi)
        if i < 40:
            AllChem.Compute2DCoords(m)
        else:
            m = Chem.AddHs(m)
            AllChem.EmbedMolecule(m, randomSeed=42)
        m.SetProp("_Name", f"record {i + 1}")
        m.SetProp("smiles", smi)
        m.SetProp("source", why)
        w.write(m)
    w.close()
    print(f"{len(rows)} molecules, RDKit {rdBase.rdkitVersion}")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
