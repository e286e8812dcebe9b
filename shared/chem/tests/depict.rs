//! Structure pictures: `depict_svg` gives well-formed SVG of the requested
//! size, the same bytes for the same molecule from any thread, different
//! pictures for different molecules, and errors for bad input.

use pharmforge_chem::{depict_svg, ChemError, SVG_SIZE_RANGE};

/// Checks that `svg` is XML-ish: an `<?xml` declaration, then one `<svg>`
/// element whose tags all open and close in order. Returns the root's
/// opening tag.
fn check_xml(svg: &str) -> String {
    assert!(svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(100)]);
    let mut open: Vec<&str> = Vec::new();
    let mut root = None;
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let end = if rest.starts_with("<!--") { rest.find("-->").expect("unclosed comment") + 3 } else { rest.find('>').expect("unclosed tag") + 1 };
        let tag = &rest[..end];
        rest = &rest[end..];
        if tag.starts_with("<?") || tag.starts_with("<!") {
            continue;
        }
        let name = tag.trim_start_matches(['<', '/']).split(|c: char| c.is_whitespace() || c == '>' || c == '/').next().unwrap();
        if tag.starts_with("</") {
            assert_eq!(open.pop(), Some(name), "closing {tag}");
        } else {
            if open.is_empty() {
                assert!(root.is_none(), "second root element {tag}");
                root = Some(tag.to_owned());
            }
            if !tag.ends_with("/>") {
                open.push(name);
            }
        }
    }
    assert!(open.is_empty(), "unclosed elements {open:?}");
    assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
    root.expect("no root element")
}

#[test]
fn an_svg_is_xml_with_the_requested_width_and_height() {
    for (w, h) in [(300, 200), (16, 16), (2048, 2048), (250, 1000)] {
        let svg = depict_svg("CC(=O)Oc1ccccc1C(=O)O", w, h).unwrap();
        let root = check_xml(&svg);
        assert!(root.starts_with("<svg"), "{root}");
        assert!(root.contains(&format!("width='{w}px' height='{h}px'")), "{root}");
        assert!(root.contains(&format!("viewBox='0 0 {w} {h}'")), "{root}");
    }
}

#[test]
fn atom_labels_and_bonds_are_drawn() {
    let svg = depict_svg("OC(=O)c1ccccc1N", 300, 300).unwrap();
    assert!(svg.contains(">O</text>") || svg.contains(">O<"), "oxygen label");
    assert!(svg.contains("class='bond-"), "bonds");
}

#[test]
fn different_molecules_give_different_pictures_and_the_same_one_the_same_bytes() {
    let benzene = depict_svg("c1ccccc1", 300, 300).unwrap();
    let pyridine = depict_svg("c1ccncc1", 300, 300).unwrap();
    let r = depict_svg("C[C@H](N)C(=O)O", 300, 300).unwrap();
    let s = depict_svg("C[C@@H](N)C(=O)O", 300, 300).unwrap();
    assert_ne!(benzene, pyridine);
    assert_ne!(r, s, "enantiomers differ in their wedges");
    assert_eq!(benzene, depict_svg("c1ccccc1", 300, 300).unwrap());
    assert_eq!(benzene, depict_svg("C1=CC=CC=C1", 300, 300).unwrap(), "same molecule, other SMILES");
}

#[test]
fn bad_smiles_is_an_error() {
    for s in ["C1CC", "not_a_smiles", "", "CC(C)(C)(C)C", "C\0C"] {
        match depict_svg(s, 300, 300) {
            Err(ChemError::InvalidSmiles(msg)) => assert!(!msg.is_empty(), "{s:?}"),
            other => panic!("{s:?}: {other:?}"),
        }
    }
}

#[test]
fn sizes_outside_the_range_are_errors() {
    let (lo, hi) = (*SVG_SIZE_RANGE.start(), *SVG_SIZE_RANGE.end());
    assert_eq!((lo, hi), (16, 2048));
    for (w, h) in [(lo - 1, 300), (300, hi + 1), (0, 0), (300, u32::MAX)] {
        match depict_svg("CCO", w, h) {
            Err(ChemError::Rdkit(msg)) => assert!(msg.contains("16..=2048"), "{msg}"),
            other => panic!("{w}x{h}: {other:?}"),
        }
    }
}

#[test]
fn pictures_drawn_on_two_threads_are_those_drawn_on_one() {
    let smiles =
        ["CC(=O)Oc1ccccc1C(=O)O", "CN1CCC[C@H]1c1cccnc1", "O=C([O-])c1ccccc1.[Na+]", "C/C=C/C(=O)N[C@@H](Cc1ccccc1)C(=O)O", "c1ccc2c(c1)[nH]c1ccccc12"];
    let want: Vec<String> = smiles.iter().map(|s| depict_svg(s, 200, 150).unwrap()).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|t| {
                let smiles = &smiles;
                scope.spawn(move || {
                    (0..40)
                        .map(|i| {
                            let k = (i + t) % smiles.len();
                            (k, depict_svg(smiles[k], 200, 150).unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for w in workers {
            for (k, svg) in w.join().unwrap() {
                assert_eq!(svg, want[k], "{}", smiles[k]);
            }
        }
    });
}
