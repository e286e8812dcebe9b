#!/usr/bin/env python3
"""The Bemis–Murcko scaffolds of the reference molecules as RDKit's Python
gives them, for pharmforge-chem's scaffold test (tests/scaffold.rs) and the
scaffolds adapter's: made once and committed, so the tests need no Python.

usage: make_scaffold_reference.py REFERENCE_DIR OUT_FILE
  e.g. .data/venv/bin/python shared/chem/tools/make_scaffold_reference.py \
           /work/shared/data/reference shared/chem/tests/data/scaffolds.rdkit.jsonl

Made with RDKit 2026.09.1 (pip install rdkit); the first line of OUT_FILE
records the version. One JSON object a line for every valid reference
molecule, in the reference files' order (edge_cases, cdk2_47,
chembl_cmet_1017):
  smiles            the reference SMILES
  scaffold          Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(mol))
                    ("" for an acyclic molecule)
  generic_scaffold  Chem.MolToSmiles(MurckoScaffold.MakeScaffoldGeneric(
                    scaffold)), or null when RDKit refuses it (then
                    generic_error says why)
  ring_systems      the scaffold's rings (GetRingInfo().AtomRings()), those
                    sharing two or more atoms joined into one system
"""
import json
import pathlib
import sys

import rdkit
from rdkit import Chem, RDLogger
from rdkit.Chem.Scaffolds import MurckoScaffold

RDLogger.DisableLog("rdApp.*")

FILES = ("edge_cases.rdkit.jsonl", "cdk2_47.rdkit.jsonl", "chembl_cmet_1017.rdkit.jsonl")


def ring_systems(mol):
    rings = [set(r) for r in mol.GetRingInfo().AtomRings()]
    parent = list(range(len(rings)))

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    systems = len(rings)
    for i in range(len(rings)):
        for j in range(i + 1, len(rings)):
            if len(rings[i] & rings[j]) >= 2 and root(i) != root(j):
                parent[root(i)] = root(j)
                systems -= 1
    return systems


def main(ref_dir, out_file):
    rows = [{"rdkit_version": rdkit.__version__}]
    for name in FILES:
        for line in open(pathlib.Path(ref_dir) / name):
            d = json.loads(line)
            if not d["valid"]:
                continue
            mol = Chem.MolFromSmiles(d["smiles"])
            if mol is None:
                continue
            scaffold = MurckoScaffold.GetScaffoldForMol(mol)
            row = {"smiles": d["smiles"], "scaffold": Chem.MolToSmiles(scaffold)}
            try:
                row["generic_scaffold"] = Chem.MolToSmiles(MurckoScaffold.MakeScaffoldGeneric(scaffold))
            except Exception as e:  # a carbon of five bonds: RDKit's sanitization refuses it
                row["generic_scaffold"] = None
                row["generic_error"] = str(e)
            row["ring_systems"] = ring_systems(scaffold)
            rows.append(row)
    with open(out_file, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows) - 1} molecules, RDKit {rdkit.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
