//! The DrugBank-approved reference set (`data/drugbank_approved.csv`) and
//! percentiles against it, as `scipy.stats.percentileofscore(col, x)` (kind
//! `'rank'`) computes them.

use std::collections::HashMap;

/// Parses CSV text (RFC 4180 quoting) into rows of fields.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            _ => field.push(c),
        }
    }
    if any {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The reference set: for each numeric column, its values sorted.
pub struct DrugBank {
    sorted: HashMap<String, Vec<f64>>,
    /// The set's rows (SMILES and each column's raw value), for tests.
    pub rows: Vec<HashMap<String, String>>,
}

impl DrugBank {
    pub fn from_csv(text: &str) -> Result<DrugBank, String> {
        let mut rows = parse_csv(text).into_iter();
        let header = rows.next().ok_or("empty CSV")?;
        let rows: Vec<HashMap<String, String>> = rows.filter(|r| !(r.len() == 1 && r[0].is_empty())).map(|r| header.iter().cloned().zip(r).collect()).collect();
        if rows.is_empty() {
            return Err("no rows".into());
        }
        let mut sorted = HashMap::new();
        for col in &header {
            let vals: Option<Vec<f64>> = rows.iter().map(|r| r.get(col).and_then(|v| v.parse::<f64>().ok())).collect();
            if let Some(mut v) = vals {
                v.sort_by(f64::total_cmp);
                sorted.insert(col.clone(), v);
            }
        }
        Ok(DrugBank { sorted, rows })
    }

    pub fn has_column(&self, name: &str) -> bool {
        self.sorted.contains_key(name)
    }

    /// `percentileofscore(column, score, kind='rank')`: 0–100; None when the
    /// column is unknown or `score` is NaN.
    pub fn percentile(&self, column: &str, score: f64) -> Option<f64> {
        let v = self.sorted.get(column)?;
        if score.is_nan() {
            return None;
        }
        let left = v.partition_point(|&x| x < score);
        let right = v.partition_point(|&x| x <= score);
        let plus1 = usize::from(left < right);
        Some((left + right + plus1) as f64 * (50.0 / v.len() as f64))
    }

    /// How many of the column's values lie in `[lo, hi]` (None when the
    /// column is unknown).
    pub fn values_within(&self, column: &str, lo: f64, hi: f64) -> Option<usize> {
        let v = self.sorted.get(column)?;
        Some(v.partition_point(|&x| x <= hi).saturating_sub(v.partition_point(|&x| x < lo)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes() {
        let rows = parse_csv("a,b\n\"x, y\",\"q\"\"\"\n1,2");
        assert_eq!(rows, vec![vec!["a", "b"], vec!["x, y", "q\""], vec!["1", "2"]]);
    }

    #[test]
    fn percentile_matches_scipy() {
        // scipy.stats.percentileofscore([1, 2, 3, 4], 3) == 75.0; ([1,2,3,3,4], 3) == 70.0
        let db = DrugBank::from_csv("x\n1\n2\n3\n4\n").unwrap();
        assert_eq!(db.percentile("x", 3.0), Some(75.0));
        assert_eq!(db.percentile("x", 0.0), Some(0.0));
        assert_eq!(db.percentile("x", 5.0), Some(100.0));
        let db = DrugBank::from_csv("x\n1\n2\n3\n3\n4\n").unwrap();
        assert_eq!(db.percentile("x", 3.0), Some(70.0));
    }
}
