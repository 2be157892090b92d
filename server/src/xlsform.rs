//! XLSForm spreadsheets (.xlsx), as coordinators author forms for ODK and Kobo, read into this
//! server's form definitions. The `survey` sheet gives the questions, `choices` their options,
//! `settings` the form's id, version and title, and this server's own columns (`collection`,
//! `year`, `facility_kinds`). Every problem names its sheet, row and column as a spreadsheet
//! shows them. What a definition cannot hold (skip logic, calculations) is reported as a
//! warning and left out; a constraint this server cannot check exactly is an error, since
//! dropping it would accept answers the author meant to refuse.

use std::collections::BTreeMap;
use std::io::Cursor;

use calamine::{Data, Range, Reader, Xlsx};
use serde_json::{Map, Value, json};
use sync_protocol::form::{FormDef, envelope_fields};

/// Where in the workbook, as a spreadsheet shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub sheet: String,
    /// 1-based, the header being row 1.
    pub row: u32,
    /// The column's letters, and its header when it has one.
    pub column: Option<(String, String)>,
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sheet {:?}, row {}", self.sheet, self.row)?;
        if let Some((letters, header)) = &self.column {
            write!(f, ", column {letters} ({header})")?;
        }
        Ok(())
    }
}

/// What is wrong and where; `at.sheet` is empty when it is the workbook as a whole (not an
/// .xlsx file, a sheet missing), and the message then stands alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if at.sheet.is_empty() { String::new() } else { format!("{at}: ") })]
pub struct XlsFormError {
    pub at: Cell,
    pub message: String,
}

/// A form read from a workbook, and what was left out of it.
#[derive(Debug, Clone)]
pub struct Imported {
    pub form: FormDef,
    pub warnings: Vec<String>,
}

fn letters(mut index: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string().trim().to_owned(),
    }
}

/// One sheet as rows of named cells.
struct Sheet {
    name: String,
    /// Lowercased header → column index.
    headers: Vec<(String, u32)>,
    rows: Vec<(u32, Vec<String>)>,
    first_col: u32,
}

impl Sheet {
    fn read(name: &str, range: &Range<Data>) -> Sheet {
        let (first_row, first_col) = range.start().unwrap_or((0, 0));
        let mut rows = range.rows();
        let headers = rows
            .next()
            .map(|h| {
                h.iter()
                    .enumerate()
                    .map(|(i, c)| (text(c).to_lowercase(), i as u32))
                    .filter(|(h, _)| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let rows = rows
            .enumerate()
            .map(|(i, r)| (first_row + i as u32 + 2, r.iter().map(text).collect()))
            .filter(|(_, r): &(u32, Vec<String>)| r.iter().any(|c| !c.is_empty()))
            .collect();
        Sheet {
            name: name.to_owned(),
            headers,
            rows,
            first_col,
        }
    }

    fn column(&self, header: &str) -> Option<u32> {
        self.headers
            .iter()
            .find(|(h, _)| h == header)
            .map(|(_, i)| *i)
    }

    fn get<'a>(&self, row: &'a [String], header: &str) -> &'a str {
        self.column(header)
            .and_then(|i| row.get(i as usize))
            .map(String::as_str)
            .unwrap_or("")
    }

    fn at(&self, row: u32, header: Option<&str>) -> Cell {
        Cell {
            sheet: self.name.clone(),
            row,
            column: header.and_then(|h| {
                self.column(h)
                    .map(|i| (letters(self.first_col + i), h.to_owned()))
            }),
        }
    }

    fn error(&self, row: u32, header: Option<&str>, message: impl Into<String>) -> XlsFormError {
        XlsFormError {
            at: self.at(row, header),
            message: message.into(),
        }
    }

    /// The text of a translatable column in the three languages: `label::Kyrgyz (ky)`,
    /// `label::ky` or `label::кыргызча`, and so on; a language without a column takes the plain
    /// column's text, else another language's. `None` when there is no text at all.
    fn labels(&self, row: &[String], base: &str) -> Option<Value> {
        let mut by_lang: BTreeMap<&str, String> = BTreeMap::new();
        let mut plain = String::new();
        for (header, i) in &self.headers {
            let value = row.get(*i as usize).cloned().unwrap_or_default();
            if value.is_empty() {
                continue;
            }
            if header == base {
                plain = value;
                continue;
            }
            let Some(lang) = header
                .strip_prefix(base)
                .and_then(|rest| rest.strip_prefix("::"))
            else {
                continue;
            };
            if let Some(code) = language_code(lang) {
                by_lang.insert(code, value);
            }
        }
        let fallback = [plain.as_str()]
            .into_iter()
            .chain(
                ["en", "ru", "ky"]
                    .iter()
                    .filter_map(|l| by_lang.get(l).map(String::as_str)),
            )
            .find(|t| !t.is_empty())?
            .to_owned();
        let pick = |l: &str| by_lang.get(l).cloned().unwrap_or_else(|| fallback.clone());
        Some(json!({"ky": pick("ky"), "ru": pick("ru"), "en": pick("en")}))
    }
}

/// The language a column suffix names: `Kyrgyz (ky)`, `ky`, `English`, `русский`…
fn language_code(suffix: &str) -> Option<&'static str> {
    let s = suffix.trim().to_lowercase();
    let code = s
        .rsplit_once('(')
        .and_then(|(_, c)| c.strip_suffix(')'))
        .unwrap_or(&s)
        .trim()
        .to_owned();
    match code.as_str() {
        "ky" | "kir" | "kyrgyz" | "kirghiz" | "кыргызча" | "кыргыз" => Some("ky"),
        "ru" | "rus" | "russian" | "русский" => Some("ru"),
        "en" | "eng" | "english" => Some("en"),
        _ => None,
    }
}

/// Types whose rows carry no answer of the member's: metadata the phone fills, notes, layout.
const SKIPPED_TYPES: &[&str] = &[
    "start",
    "end",
    "today",
    "deviceid",
    "username",
    "phonenumber",
    "simserial",
    "subscriberid",
    "email",
    "audit",
    "note",
    "end group",
    "end_group",
];

/// Reads a workbook into a form definition, checked as any imported definition is.
pub fn read(bytes: &[u8]) -> Result<Imported, XlsFormError> {
    let book_error = |message: String| XlsFormError {
        at: Cell {
            sheet: String::new(),
            row: 0,
            column: None,
        },
        message,
    };
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e| book_error(format!("not an .xlsx workbook: {e}")))?;
    let mut sheet = |name: &str| -> Result<Option<Sheet>, XlsFormError> {
        let found = book
            .sheet_names()
            .into_iter()
            .find(|n| n.trim().eq_ignore_ascii_case(name));
        match found {
            None => Ok(None),
            Some(n) => book
                .worksheet_range(&n)
                .map(|r| Some(Sheet::read(&n, &r)))
                .map_err(|e| book_error(format!("sheet {n:?} cannot be read: {e}"))),
        }
    };
    let survey = sheet("survey")?
        .ok_or_else(|| book_error("the workbook has no \"survey\" sheet".into()))?;
    let choices = sheet("choices")?;
    let settings = sheet("settings")?;
    let mut warnings = Vec::new();

    // Choice lists by name.
    let mut lists: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    if let Some(c) = &choices {
        for header in ["list_name", "name"] {
            if c.column(header).is_none() {
                return Err(c.error(
                    1,
                    None,
                    format!("the choices sheet needs a {header:?} column"),
                ));
            }
        }
        for (row_no, row) in &c.rows {
            let list = c.get(row, "list_name");
            let name = c.get(row, "name");
            if list.is_empty() {
                return Err(c.error(*row_no, Some("list_name"), "the choice has no list name"));
            }
            if name.is_empty() {
                return Err(c.error(*row_no, Some("name"), "the choice has no name"));
            }
            let label = c
                .labels(row, "label")
                .ok_or_else(|| c.error(*row_no, Some("label"), "the choice has no label"))?;
            lists
                .entry(list.to_owned())
                .or_default()
                .push(json!({"value": name, "label": label}));
        }
    }

    // Settings.
    let (mut form_id, mut version, mut title) = (String::new(), String::new(), None);
    let (mut collection, mut year, mut kinds) = (String::new(), String::new(), String::new());
    let mut settings_row = 2;
    if let Some(s) = &settings
        && let Some((row_no, row)) = s.rows.first()
    {
        settings_row = *row_no;
        form_id = s.get(row, "form_id").to_owned();
        version = s.get(row, "version").to_owned();
        // pyxform takes one `form_title`; the translations sit in `translated_title::…` columns.
        title = s
            .labels(row, "translated_title")
            .or_else(|| s.labels(row, "form_title"));
        collection = s.get(row, "collection").to_owned();
        year = s.get(row, "year").to_owned();
        kinds = s.get(row, "facility_kinds").to_owned();
    }
    let settings_error = |header: &str, message: String| match &settings {
        Some(s) => s.error(settings_row, Some(header), message),
        None => book_error(format!("the workbook has no \"settings\" sheet: {message}")),
    };
    if form_id.is_empty() {
        return Err(settings_error("form_id", "the form needs a form_id".into()));
    }
    let version: u32 = version.parse().map_err(|_| {
        settings_error(
            "version",
            format!(
                "the version {version:?} must be a whole number from 0 to {} (such as 2026112401)",
                u32::MAX
            ),
        )
    })?;

    // Questions.
    for header in ["type", "name"] {
        if survey.column(header).is_none() {
            return Err(survey.error(
                1,
                None,
                format!("the survey sheet needs a {header:?} column"),
            ));
        }
    }
    let mut questions = Vec::new();
    let mut rows_of = Vec::new();
    let mut has_facility = false;
    let mut has_village = false;
    // The rows of the groups begun and not yet ended: groups are flattened, but a workbook whose
    // groups do not pair up is a mistake that pyxform refuses too.
    let mut open_groups = Vec::new();
    for (row_no, row) in &survey.rows {
        let row_no = *row_no;
        let kind = survey
            .get(row, "type")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let name = survey.get(row, "name");
        if kind.is_empty() {
            return Err(survey.error(row_no, Some("type"), "the row has a name but no type"));
        }
        let lower = kind.to_lowercase();
        if (lower == "end group" || lower == "end_group") && open_groups.pop().is_none() {
            return Err(survey.error(
                row_no,
                Some("type"),
                "this end_group has no begin_group before it",
            ));
        }
        if SKIPPED_TYPES.contains(&lower.as_str()) {
            continue;
        }
        if lower == "begin group" || lower == "begin_group" {
            open_groups.push(row_no);
            if !survey.get(row, "relevant").is_empty() {
                warnings.push(format!(
                    "{}: the group's relevant is not supported; its questions are always shown",
                    survey.at(row_no, Some("relevant"))
                ));
            }
            continue;
        }
        if lower.starts_with("begin repeat")
            || lower.starts_with("begin_repeat")
            || lower.starts_with("end repeat")
            || lower.starts_with("end_repeat")
        {
            return Err(survey.error(
                row_no,
                Some("type"),
                "repeats are not supported: a visit answers each question once",
            ));
        }
        if matches!(lower.as_str(), "calculate" | "hidden") {
            warnings.push(format!(
                "{}: {name} is a calculation; it is not kept",
                survey.at(row_no, Some("type"))
            ));
            continue;
        }
        if name.is_empty() {
            return Err(survey.error(row_no, Some("name"), "the question has no name"));
        }
        // The envelope: where and when, fixed per collection.
        if lower.starts_with("select_one_from_file")
            || envelope_fields("visits").contains(&name)
            || envelope_fields("survey_responses").contains(&name)
        {
            match name {
                "facility" => has_facility = true,
                "village" => has_village = true,
                "gps" | "captured_at" => {}
                other => {
                    return Err(survey.error(
                        row_no,
                        Some("name"),
                        format!("{other:?} is filled by the server; choose another name, or name the list facility or village"),
                    ));
                }
            }
            continue;
        }
        if !survey.get(row, "relevant").is_empty() {
            warnings.push(format!(
                "{}: relevant is not supported; {name} is always asked",
                survey.at(row_no, Some("relevant"))
            ));
        }
        let label = survey
            .labels(row, "label")
            .ok_or_else(|| survey.error(row_no, Some("label"), format!("{name} has no label")))?;
        if let Err(e) = sync_protocol::FieldName::parse(name) {
            return Err(survey.error(row_no, Some("name"), e.to_string()));
        }
        let mut q = Map::new();
        q.insert("key".into(), json!(name));
        q.insert("label".into(), label);
        if let Some(hint) = survey.labels(row, "hint") {
            q.insert("hint".into(), hint);
        }
        let required = survey.get(row, "required").to_lowercase();
        match required.as_str() {
            "" | "no" | "false" | "false()" | "0" => {}
            "yes" | "true" | "true()" | "1" => {
                q.insert("required".into(), json!(true));
            }
            other => {
                return Err(survey.error(
                    row_no,
                    Some("required"),
                    format!("required is yes or no, not {other:?}"),
                ));
            }
        }
        let mut words = kind.split_whitespace();
        let head = words.next().unwrap_or_default().to_lowercase();
        let (tag, list) = match head.as_str() {
            "integer" | "int" => ("integer", None),
            "decimal" => ("decimal", None),
            "text" | "string" => ("text", None),
            "date" => ("date", None),
            "geopoint" => ("geopoint", None),
            "image" | "photo" => ("photo", None),
            "acknowledge" => ("boolean", None),
            "select_one" | "select1" => ("select_one", words.next()),
            "select_multiple" | "select_all_that_apply" => ("select_multiple", words.next()),
            _ => {
                return Err(survey.error(
                    row_no,
                    Some("type"),
                    format!("type {kind:?} is not supported (integer, decimal, text, date, geopoint, image, acknowledge, select_one, select_multiple)"),
                ));
            }
        };
        let mut tag = tag;
        if matches!(tag, "select_one" | "select_multiple") {
            let list = list.ok_or_else(|| {
                survey.error(row_no, Some("type"), format!("{kind} names no choice list"))
            })?;
            let options = lists.get(list).ok_or_else(|| {
                survey.error(
                    row_no,
                    Some("type"),
                    format!("there is no choice list {list:?} in the choices sheet"),
                )
            })?;
            // A yes/no question is a boolean: indicators count its `true` answers.
            let mut values: Vec<&str> =
                options.iter().filter_map(|o| o["value"].as_str()).collect();
            values.sort_unstable();
            if tag == "select_one" && values == ["no", "yes"] {
                tag = "boolean";
            } else {
                q.insert("choices".into(), json!(options));
            }
        }
        q.insert("type".into(), json!(tag));
        let constraint = survey.get(row, "constraint");
        if !constraint.is_empty() {
            bounds(tag, constraint, &mut q)
                .map_err(|m| survey.error(row_no, Some("constraint"), m))?;
        }
        questions.push(Value::Object(q));
        rows_of.push(row_no);
    }
    if let Some(row_no) = open_groups.pop() {
        return Err(survey.error(
            row_no,
            Some("type"),
            "this begin_group is never ended: add an end_group row after its questions",
        ));
    }
    if questions.is_empty() {
        return Err(survey.error(1, None, "the survey sheet has no questions"));
    }

    let collection = match collection.as_str() {
        "" if has_village && !has_facility => "survey_responses".to_owned(),
        "" => "visits".to_owned(),
        c => c.to_owned(),
    };
    let title =
        title.ok_or_else(|| settings_error("form_title", "the form needs a form_title".into()))?;
    let mut def = json!({
        "id": form_id,
        "version": version,
        "collection": collection,
        "title": title,
        "questions": questions,
    });
    if !year.is_empty() {
        let y: u16 = year
            .parse()
            .map_err(|_| settings_error("year", format!("the year {year:?} is not a year")))?;
        def["year"] = json!(y);
    }
    let kinds: Vec<&str> = kinds.split([' ', ',']).filter(|k| !k.is_empty()).collect();
    if !kinds.is_empty() {
        def["facility_kinds"] = json!(kinds);
    }
    let form: FormDef = serde_json::from_value(def).map_err(|e| {
        // Names and ids are checked as the definition is read; point at the settings row.
        settings_error("form_id", e.to_string())
    })?;
    form.check().map_err(|e| {
        // `questions[3].choices[1].value` → that question's survey row.
        let index =
            e.at.strip_prefix("questions[")
                .and_then(|r| r.split(']').next())
                .and_then(|i| i.parse::<usize>().ok());
        match index.and_then(|i| rows_of.get(i)) {
            Some(row) => survey.error(*row, None, e.to_string()),
            None => settings_error("form_id", e.to_string()),
        }
    })?;
    Ok(Imported { form, warnings })
}

/// Bounds from a constraint this server can check exactly: `. >= 0 and . <= 24`,
/// `string-length(.) <= 200`, `count-selected(.) <= 3`, `. >= date('2020-01-01')`.
fn bounds(tag: &str, constraint: &str, q: &mut Map<String, Value>) -> Result<(), String> {
    let unsupported = || {
        format!(
            "constraint {constraint:?} cannot be checked by this server; write bounds such as \
             \". >= 0 and . <= 24\", \"string-length(.) <= 200\" or \"count-selected(.) <= 3\""
        )
    };
    for part in constraint.split(" and ") {
        let part = part.trim();
        // `(. >= 0)`: brackets around the whole comparison only.
        let part = match part.strip_prefix('(').and_then(|p| p.strip_suffix(')')) {
            Some(inner) if !inner.contains('(') => inner.trim(),
            _ => part,
        };
        let (subject, rest) = if let Some(r) = part.strip_prefix("string-length(.)") {
            ("length", r)
        } else if let Some(r) = part.strip_prefix("count-selected(.)") {
            ("count", r)
        } else if let Some(r) = part.strip_prefix('.') {
            ("value", r)
        } else {
            return Err(unsupported());
        };
        let rest = rest.trim();
        let (op, operand) = ["<=", ">=", "<", ">"]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|o| (*op, o.trim())))
            .ok_or_else(unsupported)?;
        let key = match (subject, op, tag) {
            ("length", "<=", "text") => "max_length",
            ("count", ">=", "select_multiple") => "min_selected",
            ("count", "<=", "select_multiple") => "max_selected",
            ("value", ">=", "integer" | "decimal" | "date") => "min",
            ("value", "<=", "integer" | "decimal" | "date") => "max",
            _ => return Err(unsupported()),
        };
        let value = if tag == "date" && subject == "value" {
            let d = operand
                .strip_prefix("date(")
                .and_then(|d| d.strip_suffix(')'))
                .map(|d| d.trim_matches(['\'', '"']))
                .ok_or_else(unsupported)?;
            json!(d)
        } else if tag == "decimal" {
            json!(operand.parse::<f64>().map_err(|_| unsupported())?)
        } else {
            json!(operand.parse::<i64>().map_err(|_| unsupported())?)
        };
        q.insert(key.into(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(letters(0), "A");
        assert_eq!(letters(25), "Z");
        assert_eq!(letters(26), "AA");
        assert_eq!(letters(27), "AB");
    }

    #[test]
    fn constraints_become_bounds() {
        let mut q = Map::new();
        bounds("integer", ". >= 0 and . <= 24", &mut q).unwrap();
        assert_eq!(q["min"], 0);
        assert_eq!(q["max"], 24);
        let mut q = Map::new();
        bounds("date", ". >= date('2020-01-01')", &mut q).unwrap();
        assert_eq!(q["min"], "2020-01-01");
        assert!(bounds("integer", "regex(., '^[0-9]+$')", &mut Map::new()).is_err());
        assert!(bounds("text", ". >= 3", &mut Map::new()).is_err());
    }

    #[test]
    fn languages_by_name_or_code() {
        assert_eq!(language_code("Kyrgyz (ky)"), Some("ky"));
        assert_eq!(language_code("English"), Some("en"));
        assert_eq!(language_code("русский"), Some("ru"));
        assert_eq!(language_code("French (fr)"), None);
    }
}
