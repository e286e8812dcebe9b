//! Every service binary answers `--help` with every environment variable it
//! reads and its default, and the list cannot drift from the code: the
//! test reads the sources for the variables they read (and the defaults
//! written there as literals) and holds each binary's help against them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A binary's `--help`: variable name -> default as printed.
fn help(binary: &str) -> (String, BTreeMap<String, String>) {
    let out = Command::new(pharmforge_tests::binary(binary)).arg("--help").env_clear().output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{binary} --help exited {:?}: {text}{}", out.status, String::from_utf8_lossy(&out.stderr));
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("  ") else { continue };
        let Some((name, default)) = rest.split_once(" [") else { continue };
        if name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') && default.ends_with(']') {
            let previous = vars.insert(name.to_owned(), default.trim_end_matches(']').to_owned());
            assert!(previous.is_none(), "{binary} --help lists {name} twice");
        }
    }
    (text, vars)
}

/// A variable read in the sources, with the default written beside it when
/// that is a literal.
#[derive(Debug)]
struct Read {
    name: String,
    default: Option<String>,
    at: String,
}

/// The calls that read a variable by name: `env_parse("X", default)` and
/// the like; `from_env_vars` takes two names.
const READERS: [&str; 8] = ["env_or", "env_parse", "env_millis", "non_empty", "env", "var", "var_os", "from_env_vars"];

fn string_literal(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start().strip_prefix('"')?;
    let end = s.find('"')?;
    Some((&s[..end], &s[end + 1..]))
}

fn is_variable(name: &str) -> bool {
    name.len() > 2
        && name.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The next argument's text, up to a `,` or `)` outside brackets.
fn argument(s: &str) -> &str {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return s[..i].trim(),
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => return s[..i].trim(),
            _ => {}
        }
    }
    s.trim()
}

fn reads_in(file: &Path) -> Vec<Read> {
    let text = std::fs::read_to_string(file).unwrap();
    // Unit tests set variables of their own; only the code counts.
    let code = text.split("#[cfg(test)]").next().unwrap();
    let mut found = Vec::new();
    for (number, line) in code.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        for reader in READERS {
            let call = format!("{reader}(");
            let mut from = 0;
            while let Some(at) = line[from..].find(&call).map(|i| from + i) {
                from = at + call.len();
                if line[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                // `env_parse(&v("X"), ..)` reads `<PREFIX>_X` for the
                // service's prefix (webclient's settings): `*_X` here.
                let (templated, args) = match line[from..].strip_prefix("&v(") {
                    Some(inner) => (true, inner),
                    None => (false, &line[from..]),
                };
                let Some((name, rest)) = string_literal(args) else { continue };
                if !is_variable(name) {
                    continue;
                }
                let name = if templated { format!("*_{name}") } else { name.to_owned() };
                let rest = if templated { rest.trim_start().strip_prefix(')').unwrap_or(rest) } else { rest };
                let at = format!("{}:{}", file.display(), number + 1);
                if reader == "from_env_vars" {
                    let second = rest.trim_start().strip_prefix(',').and_then(string_literal).map(|(n, _)| n.to_owned());
                    found.push(Read { name: name.clone(), default: None, at: at.clone() });
                    found.extend(second.map(|name| Read { name, default: None, at }));
                    continue;
                }
                let default = rest.trim_start().strip_prefix(',').map(argument).filter(|d| !d.is_empty()).map(str::to_owned);
                found.push(Read { name, default, at });
            }
        }
    }
    found
}

fn reads_under(dirs: &[&str]) -> Vec<Read> {
    let mut files = Vec::new();
    for dir in dirs {
        let mut stack = vec![root().join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    files.iter().flat_map(|f| reads_in(f)).collect()
}

/// A default as a value to compare: numbers (with `_`, type suffixes, `*`
/// and `<<` as Rust writes them) by value, strings without quotes, anything
/// else (a constant, a computed value) not compared.
fn value(text: &str) -> Option<String> {
    let text = text.trim();
    if let Some((s, rest)) = string_literal(text) {
        return rest.trim().is_empty().then(|| s.to_owned());
    }
    if text == "true" || text == "false" {
        return Some(text.to_owned());
    }
    fn number(t: &str) -> Option<f64> {
        let t = t.trim().replace('_', "");
        let t = ["usize", "u64", "i64", "u32", "i32", "f64"].iter().fold(t, |t, s| t.strip_suffix(s).map(str::to_owned).unwrap_or(t));
        t.parse::<f64>().ok()
    }
    let n = if let Some((l, r)) = text.split_once("<<") {
        number(l)? * 2f64.powi(number(r)? as i32)
    } else {
        text.split('*').map(number).try_fold(1.0, |acc, f| f.map(|f| acc * f))?
    };
    Some(n.to_string())
}

/// Which sources each binary is built from, besides `shared/core`, and
/// the prefix of its web-service settings (`*_X` reads are `<PREFIX>_X`).
const BINARIES: [(&str, &[&str], &str); 7] = [
    ("pharmforge-api", &["services/api/src", "shared/store/src"], ""),
    ("pharmforge-aggregator", &["services/aggregator/src", "shared/store/src"], ""),
    ("pharmforge-rdkit-local", &["services/rdkit-local/src"], ""),
    ("pharmforge-admet-ai", &["services/admet-ai/src"], ""),
    ("pharmforge-pubchem", &["services/pubchem/src", "shared/webclient/src"], "PUBCHEM"),
    ("pharmforge-chembl", &["services/chembl/src", "shared/webclient/src"], "CHEMBL"),
    ("pharmforge-scaffolds", &["services/scaffolds/src"], ""),
];

fn check(binary: &str, listed: &BTreeMap<String, String>, reads: &[Read], problems: &mut Vec<String>) {
    for read in reads {
        match listed.get(&read.name) {
            None => problems.push(format!("{binary} reads {} ({}) but its --help does not list it", read.name, read.at)),
            Some(shown) => {
                if let Some(default) = read.default.as_deref().and_then(value) {
                    if value(shown).map_or(shown.as_str() != default, |s| s != default) {
                        problems.push(format!("{binary} --help gives {}'s default as [{shown}], the code {default} ({})", read.name, read.at));
                    }
                }
            }
        }
    }
}

#[test]
fn every_binary_lists_every_variable_it_reads_with_its_default() {
    let core = reads_under(&["shared/core/src"]);
    assert!(core.len() > 20 && core.iter().any(|r| r.name == "NATS_URL"), "the scan found too little in shared/core: {core:?}");
    let service: Vec<String> = pharmforge_core::config::service_vars().into_iter().map(|v| v.name.into_owned()).collect();
    let mut problems = Vec::new();
    let mut everywhere: BTreeMap<String, usize> = BTreeMap::new();
    let mut scanned = 0;
    for (binary, dirs, prefix) in BINARIES {
        let (text, listed) = help(binary);
        assert!(listed.len() > 20, "{binary} --help lists only {} variables:\n{text}", listed.len());
        let mut own = reads_under(dirs);
        for read in own.iter_mut().filter(|r| r.name.starts_with("*_")) {
            assert!(!prefix.is_empty(), "{binary} has no settings prefix for {} ({})", read.name, read.at);
            read.name = read.name.replacen('*', prefix, 1);
        }
        scanned += own.len();
        check(binary, &listed, &own, &mut problems);
        // What every service reads (NATS, logs, traces, metrics) it lists.
        for name in &service {
            if !listed.contains_key(name) {
                problems.push(format!("{binary} --help leaves out {name}, which every service reads"));
            }
        }
        // The core's reads each binary lists are checked against the code too.
        let core_listed: Vec<&Read> = core.iter().filter(|r| listed.contains_key(&r.name)).collect();
        for r in &core_listed {
            *everywhere.entry(r.name.clone()).or_default() += 1;
        }
        check(
            binary,
            &listed,
            &core_listed.into_iter().map(|r| Read { name: r.name.clone(), default: r.default.clone(), at: r.at.clone() }).collect::<Vec<_>>(),
            &mut problems,
        );
    }
    assert!(scanned > 50, "only {scanned} reads found in the services' sources: the scan is broken");
    for adapter in pharmforge_core::AdapterName::ALL {
        assert!(BINARIES.iter().any(|(b, _, _)| *b == adapter.binary()), "{} is not in BINARIES: its --help is not checked", adapter.binary());
    }
    for read in &core {
        if !everywhere.contains_key(&read.name) {
            problems.push(format!("shared/core reads {} ({}) but no binary's --help lists it", read.name, read.at));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scan_sees_a_variable_and_its_default_and_a_wrong_default_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.rs");
    std::fs::write(
        &file,
        "fn f() {\n    let a = env_parse(\"SOME_LIMIT\", 64usize)?;\n    // env_parse(\"IN_A_COMMENT\", 1)\n    let b = std::env::var(\"OTHER_ONE\");\n    let c = ConsumerSettings::from_env_vars(\"X_BATCH\", \"X_CONC\", 5, 2);\n    let d = env_millis(\"TTL_MS\", 7 * 24 * 3600)?;\n    let e = env_parse(&v(\"RATE\"), 5.0)?;\n}\n#[cfg(test)]\nmod tests { fn g() { env_parse(\"ONLY_IN_TESTS\", 1); } }\n",
    )
    .unwrap();
    let reads = reads_in(&file);
    let names: Vec<&str> = reads.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["SOME_LIMIT", "OTHER_ONE", "X_BATCH", "X_CONC", "TTL_MS", "*_RATE"]);
    assert_eq!(reads[5].default.as_deref(), Some("5.0"), "a templated read's default is read too");
    let listed: BTreeMap<String, String> =
        [("SOME_LIMIT", "64"), ("OTHER_ONE", ""), ("X_BATCH", "5"), ("TTL_MS", "604800"), ("*_RATE", "5")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    let mut problems = Vec::new();
    check("b", &listed, &reads, &mut problems);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("X_CONC"), "{problems:?}");
    let wrong: BTreeMap<String, String> = listed.iter().map(|(k, v)| (k.clone(), if k == "SOME_LIMIT" { "32".into() } else { v.clone() })).collect();
    let mut problems = Vec::new();
    check("b", &wrong, &reads, &mut problems);
    assert!(problems.iter().any(|p| p.contains("SOME_LIMIT") && p.contains("[32]")), "{problems:?}");
}
