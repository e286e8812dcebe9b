//! What a result holds as sections, as a browse's sort key
//! (`admet.hERG`, `input.IC50`) and an export's columns name them: each
//! stored result section, the scores, the errors, and what the user gave
//! with the compound (`input`).

use crate::runs::CompoundRow;
use serde_json::value::RawValue;

/// A section of a result, by its name in a sort key or a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Result(pharmforge_core::Section),
    Scores,
    Errors,
    Input,
}

impl Section {
    /// Every one, in the order an export lists their columns: the stored
    /// sections (in theirs), the scores, the errors, the input.
    pub fn all() -> impl Iterator<Item = Section> {
        pharmforge_core::Section::ALL.map(Section::Result).into_iter().chain([Section::Scores, Section::Errors, Section::Input])
    }

    /// Its name: every stored section's, `scores`, `errors`, `input`.
    pub fn name(self) -> &'static str {
        match self {
            Section::Result(s) => s.as_str(),
            Section::Scores => "scores",
            Section::Errors => "errors",
            Section::Input => "input",
        }
    }

    pub fn parse(name: &str) -> Option<Section> {
        Self::all().find(|s| s.name() == name)
    }

    /// Its name in a run's `result_keys` (where what the user gave is
    /// `input_properties`, as in a result row).
    pub(crate) fn stored_name(self) -> &'static str {
        match self {
            Section::Input => "input_properties",
            other => other.name(),
        }
    }

    /// Its column in the results query.
    pub(crate) fn column(self) -> String {
        match self {
            Section::Result(s) => format!("c.{s}"),
            Section::Scores => "c.scores".into(),
            Section::Errors => "c.errors".into(),
            Section::Input => "i.properties".into(),
        }
    }

    /// The keys of its JSON whose objects an export flattens into the
    /// section's own columns: ADMET's predictions and their percentiles are
    /// `admet.hERG` and `admet.hERG_drugbank_approved_percentile` (the
    /// percentiles' names carry their suffix, so none collide), as scoring
    /// profiles and sorts name them.
    pub fn nested(self) -> &'static [&'static str] {
        match self {
            Section::Result(pharmforge_core::Section::Admet) => &["properties", "percentiles"],
            _ => &[],
        }
    }

    /// Its JSON in a result row, if the row has it.
    pub fn of(self, row: &CompoundRow) -> Option<&RawValue> {
        let stored = match self {
            Section::Result(s) => row.section(s),
            Section::Scores => row.scores.as_ref(),
            Section::Errors => return Some(&row.errors.0),
            Section::Input => row.input_properties.as_ref(),
        };
        stored.map(|j| &*j.0)
    }
}

/// The keys of a section's JSON object as an export's columns name them:
/// its own, with those of its [`Section::nested`] objects in their place.
/// Empty for anything but an object.
pub fn flat_keys(section: Section, raw: &RawValue) -> Vec<String> {
    let Ok(object) = serde_json::from_str::<std::collections::HashMap<String, &RawValue>>(raw.get()) else {
        return Vec::new();
    };
    let mut keys = Vec::with_capacity(object.len());
    for (key, value) in object {
        let inner = section.nested().contains(&key.as_str()) && value.get().starts_with('{');
        match inner.then(|| serde_json::from_str::<std::collections::HashMap<String, serde::de::IgnoredAny>>(value.get()).ok()).flatten() {
            Some(inner) => keys.extend(inner.into_keys()),
            None => keys.push(key),
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_is_read_back_by_its_name() {
        for s in Section::all() {
            assert_eq!(Section::parse(s.name()), Some(s));
        }
        assert_eq!((Section::parse("input_properties"), Section::Input.stored_name()), (None, "input_properties"));
    }

    #[test]
    fn admet_keys_are_flattened_and_others_are_not() {
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.into()).unwrap();
        let admet = raw(r#"{"model": "m", "properties": {"hERG": 0.5, "a\"b": 1}, "percentiles": {"hERG_drugbank_approved_percentile": 7}}"#);
        let mut keys = flat_keys(Section::Result(pharmforge_core::Section::Admet), &admet);
        keys.sort();
        assert_eq!(keys, ["a\"b", "hERG", "hERG_drugbank_approved_percentile", "model"]);
        let mut keys = flat_keys(Section::Result(pharmforge_core::Section::Pubchem), &admet);
        keys.sort();
        assert_eq!(keys, ["model", "percentiles", "properties"]);
        assert!(flat_keys(Section::Scores, &raw("[1]")).is_empty());
        // A nested key whose value is no object is a column itself.
        assert_eq!(flat_keys(Section::Result(pharmforge_core::Section::Admet), &raw(r#"{"properties": null}"#)), ["properties"]);
    }
}
