//! File formats in and out, told by extension: what `submit` sends as the
//! upload's Content-Type (and Content-Encoding), what `export` asks for.

use clap::ValueEnum;
use std::path::Path;

/// A compound file the API accepts as an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    Smi,
    Csv,
    Sdf,
}

impl InputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            InputFormat::Smi => "chemical/x-daylight-smiles",
            InputFormat::Csv => "text/csv",
            InputFormat::Sdf => "chemical/x-mdl-sdfile",
        }
    }
}

/// An upload's format and whether it is gzipped, from its file name
/// (`.smi`, `.smiles`, `.csv`, `.sdf`, `.sd`, each optionally `.gz`).
pub fn input_from_name(path: &Path) -> Option<(InputFormat, bool)> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let (stem, gzipped) = match name.strip_suffix(".gz") {
        Some(stem) => (stem, true),
        None => (name.as_str(), false),
    };
    let (base, extension) = stem.rsplit_once('.')?;
    if base.is_empty() {
        return None; // a hidden file, `.csv`, has no extension
    }
    let format = match extension {
        "smi" | "smiles" => InputFormat::Smi,
        "csv" => InputFormat::Csv,
        "sdf" | "sd" => InputFormat::Sdf,
        _ => return None,
    };
    Some((format, gzipped))
}

/// gzip's magic number: how an upload from stdin is known to be compressed.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// What `GET /runs/{id}/export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Sdf,
    Jsonl,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Sdf => "sdf",
            ExportFormat::Jsonl => "jsonl",
        }
    }

    /// The format a file name asks for (`.csv`, `.sdf`/`.sd`, `.jsonl`/`.ndjson`).
    pub fn from_name(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(ExportFormat::Csv),
            "sdf" | "sd" => Some(ExportFormat::Sdf),
            "jsonl" | "ndjson" => Some(ExportFormat::Jsonl),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_follows_the_extension() {
        let cases = [
            ("mols.smi", InputFormat::Smi, false, "chemical/x-daylight-smiles"),
            ("a/b/mols.SMILES", InputFormat::Smi, false, "chemical/x-daylight-smiles"),
            ("library.csv", InputFormat::Csv, false, "text/csv"),
            ("library.csv.gz", InputFormat::Csv, true, "text/csv"),
            ("hits.sdf", InputFormat::Sdf, false, "chemical/x-mdl-sdfile"),
            ("hits.sd.GZ", InputFormat::Sdf, true, "chemical/x-mdl-sdfile"),
        ];
        for (name, format, gz, ct) in cases {
            assert_eq!(input_from_name(Path::new(name)), Some((format, gz)), "{name}");
            assert_eq!(format.content_type(), ct);
        }
    }

    #[test]
    fn unknown_extensions_are_not_guessed() {
        for name in ["mols.txt", "mols", "mols.gz", ".csv", "-"] {
            assert_eq!(input_from_name(Path::new(name)), None, "{name}");
        }
    }

    #[test]
    fn gzip_is_known_by_its_magic_number() {
        assert!(is_gzip(&[0x1f, 0x8b, 8, 0]));
        assert!(!is_gzip(b"CCO ethanol\n"));
        assert!(!is_gzip(&[0x1f]));
    }

    #[test]
    fn export_format_from_the_output_name() {
        assert_eq!(ExportFormat::from_name(Path::new("out.csv")), Some(ExportFormat::Csv));
        assert_eq!(ExportFormat::from_name(Path::new("out.SDF")), Some(ExportFormat::Sdf));
        assert_eq!(ExportFormat::from_name(Path::new("out.jsonl")), Some(ExportFormat::Jsonl));
        assert_eq!(ExportFormat::from_name(Path::new("out.xlsx")), None);
        assert_eq!(ExportFormat::from_name(Path::new("-")), None);
    }
}
