//! A table of open data and its renderings: CSV (UTF-8 with a byte order mark, so Excel shows
//! Cyrillic), XLSX and JSON. Every rendering carries the audit chain position it was read at.

use serde_json::{Map, Value, json};

use crate::storage::ChainPosition;

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(f64),
    Int(i64),
    Empty,
}

impl Cell {
    pub fn opt(v: Option<f64>) -> Cell {
        v.filter(|v| v.is_finite())
            .map_or(Cell::Empty, Cell::Number)
    }

    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    fn csv(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Int(n) => n.to_string(),
            Cell::Empty => String::new(),
        }
    }

    pub fn json(&self) -> Value {
        match self {
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Number(n) => json!(n),
            Cell::Int(n) => json!(n),
            Cell::Empty => Value::Null,
        }
    }
}

/// What a file is and where it came from, for its metadata.
pub struct About {
    pub dataset: &'static str,
    pub municipality: String,
    pub audit: ChainPosition,
    pub made_at: String,
}

pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

pub const BOM: &str = "\u{feff}";

/// Writes one CSV record (RFC 4180 quoting) to a string.
pub fn csv_record<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    let mut first = true;
    for cell in cells {
        if !first {
            out.push(',');
        }
        first = false;
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
}

impl Table {
    /// CSV with a BOM; the last column, `audit_seq`, names the chain position on every row.
    pub fn to_csv(&self, about: &About) -> String {
        let mut out = String::from(BOM);
        let seq = about.audit.seq.to_string();
        csv_record(
            &mut out,
            self.columns.iter().map(String::as_str).chain(["audit_seq"]),
        );
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(Cell::csv).collect();
            csv_record(
                &mut out,
                cells.iter().map(String::as_str).chain([seq.as_str()]),
            );
        }
        out
    }

    pub fn to_json(&self, about: &About) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|row| {
                let mut object = Map::new();
                for (c, cell) in self.columns.iter().zip(row) {
                    object.insert(c.clone(), cell.json());
                }
                Value::Object(object)
            })
            .collect();
        json!({
            "dataset": about.dataset,
            "municipality": about.municipality,
            "made_at": about.made_at,
            "audit": about.audit,
            "columns": self.columns,
            "rows": rows,
        })
    }

    /// An XLSX workbook: the table on sheet `data`, where it came from on sheet `about`.
    /// CPU work: call it off the async runtime.
    pub fn to_xlsx(&self, about: &About) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        workbook(&[("data", self)], about)
    }
}

/// An XLSX workbook of named tables, and where they came from on sheet `about`. CPU work: call
/// it off the async runtime.
pub fn workbook(
    sheets: &[(&str, &Table)],
    about: &About,
) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    for (name, table) in sheets {
        let sheet = workbook.add_worksheet();
        sheet.set_name(*name)?;
        for (c, column) in table.columns.iter().enumerate() {
            sheet.write_string_with_format(0, c as u16, column, &bold)?;
        }
        for (r, row) in table.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(s) => {
                        sheet.write_string(r, c, s)?;
                    }
                    Cell::Number(n) => {
                        sheet.write_number(r, c, *n)?;
                    }
                    Cell::Int(n) => {
                        sheet.write_number(r, c, *n as f64)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
        sheet.set_freeze_panes(1, 0)?;
    }
    let info = workbook.add_worksheet();
    info.set_name("about")?;
    let lines: [(&str, String); 6] = [
        ("dataset", about.dataset.to_owned()),
        ("municipality", about.municipality.clone()),
        ("made_at", about.made_at.clone()),
        ("audit_seq", about.audit.seq.to_string()),
        ("audit_hash", about.audit.hash.clone()),
        (
            "note",
            "Official figures from approved submissions only; no personal data.".to_owned(),
        ),
    ];
    for (r, (k, v)) in lines.iter().enumerate() {
        info.write_string_with_format(r as u32, 0, *k, &bold)?;
        info.write_string(r as u32, 1, v)?;
    }
    workbook.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about() -> About {
        About {
            dataset: "t",
            municipality: "KG".into(),
            audit: ChainPosition {
                seq: 7,
                hash: "ab".into(),
            },
            made_at: "2026-11-30T00:00:00Z".into(),
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_starts_with_a_bom() {
        let t = Table {
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![Cell::text("x, \"y\"\nz"), Cell::Number(1.5)]],
        };
        let csv = t.to_csv(&about());
        assert!(csv.starts_with(BOM));
        let mut reader = ::csv::Reader::from_reader(&csv.as_bytes()[BOM.len()..]);
        let headers = reader.headers().unwrap().clone();
        assert_eq!(headers.iter().collect::<Vec<_>>(), ["a", "b", "audit_seq"]);
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "x, \"y\"\nz");
        assert_eq!(&row[1], "1.5");
        assert_eq!(&row[2], "7");
    }
}
