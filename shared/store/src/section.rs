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
}
