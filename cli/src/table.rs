//! Plain-text tables for the terminal: a header, columns as wide as their
//! widest cell, numbers aligned right. Widths count characters, so a SMILES
//! or an ID with non-ASCII letters does not push the columns out of line.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns as `(header, alignment)`.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Table { headers: columns.iter().map(|(h, _)| h.to_string()).collect(), align: columns.iter().map(|(_, a)| *a).collect(), rows: Vec::new() }
    }

    /// Adds a row; missing cells are empty, extra ones dropped.
    pub fn row(&mut self, mut cells: Vec<String>) {
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let widths: Vec<usize> =
            (0..self.headers.len()).map(|c| self.rows.iter().map(|r| width(&r[c])).chain([width(&self.headers[c])]).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for cells in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (c, cell) in cells.iter().enumerate() {
                if c > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(widths[c] - width(cell));
                match self.align[c] {
                    Align::Left => {
                        line.push_str(cell);
                        line.push_str(&pad);
                    }
                    Align::Right => {
                        line.push_str(&pad);
                        line.push_str(cell);
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `s` cut to at most `max` characters, an ellipsis marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A number for a table cell: up to `decimals` places, trailing zeros dropped.
pub fn number(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s };
    // A small negative value rounds to "-0", which reads as a typo.
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// An RFC 3339 timestamp as `YYYY-MM-DD HH:MM:SS` (UTC, as the API gives it).
pub fn timestamp(t: &str) -> String {
    match (t.get(..10), t.get(11..19)) {
        (Some(date), Some(time)) if t.as_bytes().get(10) == Some(&b'T') => format!("{date} {time}"),
        _ => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_numbers_align_right() {
        let mut t = Table::new(&[("ID", Align::Left), ("SMILES", Align::Left), ("SCORE", Align::Right)]);
        t.row(vec!["ethanol".into(), "CCO".into(), "0.5".into()]);
        t.row(vec!["é".into(), "c1ccccc1".into(), "12.25".into()]);
        assert_eq!(
            t.render(),
            "ID       SMILES    SCORE\n\
             ethanol  CCO         0.5\n\
             é        c1ccccc1  12.25\n"
        );
    }

    #[test]
    fn short_rows_are_padded_and_trailing_spaces_trimmed() {
        let mut t = Table::new(&[("A", Align::Left), ("B", Align::Left)]);
        t.row(vec!["x".into()]);
        assert_eq!(t.render(), "A  B\nx\n");
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("CCO", 3), "CCO");
        assert_eq!(truncate("CCCCCC", 4), "CCC…");
        assert_eq!(truncate("ééééé", 3), "éé…");
    }

    #[test]
    fn numbers_and_timestamps() {
        assert_eq!(number(46.069, 2), "46.07");
        assert_eq!(number(1.0, 3), "1");
        assert_eq!(number(-0.0014, 3), "-0.001");
        assert_eq!(number(-0.0014, 2), "0");
        assert_eq!(timestamp("2026-11-29T21:08:21.123456Z"), "2026-11-29 21:08:21");
        assert_eq!(timestamp("yesterday"), "yesterday");
    }
}
