//! Reading a CSV file with a header row into rows addressed by column name, with errors that
//! name the line.

use std::collections::HashMap;

use crate::territory::ImportError;

/// One data row: its line in the file and its cells by column name (trimmed).
pub struct CsvRow {
    pub line: u64,
    cells: HashMap<&'static str, String>,
}

impl CsvRow {
    /// The cell of a column the reader was asked for ("" when empty).
    pub fn get(&self, column: &str) -> &str {
        self.cells.get(column).map_or("", String::as_str)
    }

    /// An error at this row's line.
    pub fn error(&self, problem: String) -> ImportError {
        ImportError {
            at: format!("line {}", self.line),
            problem,
        }
    }
}

/// Every row of `text`, whose header must name each of `columns` (in any order, others ignored).
pub fn read(text: &str, columns: &'static [&'static str]) -> Result<Vec<CsvRow>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ImportError {
            at: "line 1".into(),
            problem: e.to_string(),
        })?
        .clone();
    let mut index = Vec::with_capacity(columns.len());
    for name in columns {
        let i = headers
            .iter()
            .position(|h| h == *name)
            .ok_or_else(|| ImportError {
                at: "line 1".into(),
                problem: format!(
                    "the header has no column {name:?}; it needs {}",
                    columns.join(", ")
                ),
            })?;
        index.push((*name, i));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ImportError {
            at: e
                .position()
                .map_or("a line".into(), |p| format!("line {}", p.line())),
            problem: e.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let cells = index
            .iter()
            .map(|(name, i)| (*name, record.get(*i).unwrap_or("").to_owned()))
            .collect();
        rows.push(CsvRow { line, cells });
    }
    Ok(rows)
}
