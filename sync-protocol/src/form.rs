//! Form definitions, and the check of a set op against the form it answers.
//!
//! Records of `visits` and `survey_responses` are answers to a versioned form. The server checks
//! every set op against the definition it names before merging it, so a wrong answer is refused
//! while the phone that wrote it can still show which field is wrong, instead of surfacing months
//! later as a skewed indicator. Phones link the same code and can check an answer before queueing
//! it, so both sides agree on what is valid by construction.
//!
//! Everything here is pure: the definitions arrive as JSON, the answers as the `set` map of an op.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

pub use crate::ids::FormId;
use crate::ids::{Collection, FieldName};

/// The collections whose records answer a form; every other collection is free-form.
pub const FORM_COLLECTIONS: [&str; 2] = ["visits", "survey_responses"];

/// Longest text answer, in characters, when a text question names no `max_length`. A free-text
/// box should not be able to fill the op's value budget (`MAX_VALUE_BYTES`) on its own: 10 000
/// characters of Cyrillic or Kyrgyz letters are 20 000 bytes of UTF-8.
pub const TEXT_MAX_CHARS: usize = 10_000;

/// Longest facility or village code, in characters. Codes are looked up by the server; the bound
/// keeps a mistyped paste from travelling further than this check.
pub const CODE_MAX_CHARS: usize = 64;

const VISIT_ENVELOPE: &[&str] = &["form", "form_version", "facility", "captured_at", "gps"];
const SURVEY_ENVELOPE: &[&str] = &["form", "form_version", "village", "captured_at", "gps"];

/// The fields every answer of a form collection carries besides its questions, in the order they
/// are checked. They are fixed per collection rather than declared by each form because the
/// server and the exports rely on them (which form, where, when) whatever the form asks.
/// Empty for a collection that holds no form answers.
pub fn envelope_fields(collection: &str) -> &'static [&'static str] {
    match collection {
        "visits" => VISIT_ENVELOPE,
        "survey_responses" => SURVEY_ENVELOPE,
        _ => &[],
    }
}

/// Envelope names are reserved in every form collection, not only in their own: exports and
/// indicator rules name fields without their collection, so `village` must mean one thing.
fn is_envelope_name(name: &str) -> bool {
    FORM_COLLECTIONS
        .iter()
        .any(|collection| envelope_fields(collection).contains(&name))
}

/// The same text in the three languages of the app. All three are required so that no member
/// meets a blank question because a translation was forgotten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    pub ky: String,
    pub ru: String,
    pub en: String,
}

/// One version of a form. A published version never changes: answers keep the version they were
/// given, so a change of wording or of choices is a new version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormDef {
    pub id: FormId,
    pub version: u32,
    pub collection: Collection,
    pub title: Labels,
    /// The year of a survey instrument; lets reports line up the yearly surveys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<u16>,
    /// The facility kinds a visit form is for, so the app offers the right form at a facility.
    /// Empty means any kind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facility_kinds: Vec<String>,
    pub questions: Vec<Question>,
}

/// One question; its answer is the record field named `key`.
///
/// In JSON the kind's `type` and its options sit beside `key` and `label` in one object, as in
/// XLSForm. Options that belong to another type are refused, not ignored: a `max` on a text
/// question is a typo for `max_length` that would otherwise leave answers unchecked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawQuestion", into = "RawQuestion")]
pub struct Question {
    pub key: FieldName,
    pub label: Labels,
    pub hint: Option<Labels>,
    pub required: bool,
    pub kind: QuestionKind,
}

/// What a question accepts. Bounds are inclusive.
#[derive(Debug, Clone, PartialEq)]
pub enum QuestionKind {
    /// A JSON integer in the `i64` range.
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// Any finite JSON number.
    Decimal {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// A string of at most `max_length` characters (`TEXT_MAX_CHARS` when `None`).
    Text {
        max_length: Option<u32>,
    },
    /// One choice value, as a string.
    SelectOne {
        choices: Vec<Choice>,
    },
    /// An array of distinct choice values.
    SelectMultiple {
        choices: Vec<Choice>,
        min_selected: Option<u32>,
        max_selected: Option<u32>,
    },
    Boolean,
    /// A calendar date `YYYY-MM-DD`; the bounds are dates of the same form.
    Date {
        min: Option<String>,
        max: Option<String>,
    },
    /// An object `{"lat": .., "lon": .., "acc": .., "alt": ..}`, `acc` and `alt` optional. One
    /// field holds the whole fix so that a merge never mixes halves of two fixes.
    Geopoint,
    /// The record id of a `photos` record. Photos are records of their own so that the answer
    /// stays small and the upload can follow later.
    Photo,
}

impl QuestionKind {
    /// The `type` of the kind in JSON.
    pub fn type_name(&self) -> &'static str {
        self.tag().name()
    }

    fn tag(&self) -> KindTag {
        match self {
            Self::Integer { .. } => KindTag::Integer,
            Self::Decimal { .. } => KindTag::Decimal,
            Self::Text { .. } => KindTag::Text,
            Self::SelectOne { .. } => KindTag::SelectOne,
            Self::SelectMultiple { .. } => KindTag::SelectMultiple,
            Self::Boolean => KindTag::Boolean,
            Self::Date { .. } => KindTag::Date,
            Self::Geopoint => KindTag::Geopoint,
            Self::Photo => KindTag::Photo,
        }
    }
}

/// One answer of a select question. `value` is what the record stores and what indicator rules
/// match, so it is a plain code (1 to 64 of `a-z`, `0-9`, `_`, `-`, `+`); it may start with a
/// digit, because bands such as `18-29` and `60+` read best as themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub value: String,
    pub label: Labels,
}

/// What is wrong with a form definition, and where in it (`questions[3].choices[1].value`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct FormDefError {
    pub at: String,
    pub problem: String,
}

impl FormDefError {
    fn new(at: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            at: at.into(),
            problem: problem.into(),
        }
    }
}

/// The form an answer names in its `form` and `form_version` fields; how the server picks the
/// definition to check a set op against.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FormRef {
    pub id: FormId,
    pub version: u32,
}

impl fmt::Display for FormRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} version {}", self.id, self.version)
    }
}

impl FormRef {
    /// Reads `form` and `form_version` from the fields of a set op. Both are required on every
    /// set op, not only the first: each op is checked on its own, and ops of one record may
    /// reach the server in any order.
    pub fn from_set(set: &Map<String, Value>) -> Result<FormRef, FieldError> {
        let id = match set.get("form") {
            None => Err(FieldProblem::Required { got: None }),
            Some(Value::Null) => Err(FieldProblem::Required {
                got: Some("null".into()),
            }),
            Some(value @ Value::String(text)) => {
                FormId::parse(text.as_str()).map_err(|_| FieldProblem::WrongType {
                    expected: "a form id such as water_visit",
                    got: describe(value),
                })
            }
            Some(other) => Err(FieldProblem::WrongType {
                expected: "a form id such as water_visit",
                got: describe(other),
            }),
        }
        .map_err(|problem| FieldError::new("form", problem))?;
        let version = match set.get("form_version") {
            None => Err(FieldProblem::Required { got: None }),
            Some(Value::Null) => Err(FieldProblem::Required {
                got: Some("null".into()),
            }),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => match n.as_u64() {
                Some(v) if v >= 1 => u32::try_from(v).map_err(|_| FieldProblem::OutOfRange {
                    got: n.to_string(),
                    limit: Limit::Max(u32::MAX.to_string()),
                }),
                _ => Err(FieldProblem::OutOfRange {
                    got: n.to_string(),
                    limit: Limit::Min("1".into()),
                }),
            },
            Some(other) => Err(FieldProblem::WrongType {
                expected: "a form version (a whole number from 1)",
                got: describe(other),
            }),
        }
        .map_err(|problem| FieldError::new("form_version", problem))?;
        Ok(FormRef { id, version })
    }
}

/// Why one field of a set op is not a valid answer. The message names the field, what it should
/// hold and what it holds, so it can be shown to the member as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: FieldProblem,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: FieldProblem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }

    /// The problem's code, such as `out_of_range`.
    pub fn code(&self) -> &'static str {
        self.problem.code()
    }

    /// The whole human message, field included.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Serialises as `{"field": .., "code": .., "message": ..}`, ready to go into a reject answer.
impl Serialize for FieldError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("FieldError", 3)?;
        out.serialize_field("field", &self.field)?;
        out.serialize_field("code", self.code())?;
        out.serialize_field("message", &self.message())?;
        out.end()
    }
}

/// What is wrong with one field. The details make the message; `code` is what clients match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldProblem {
    /// Neither a question of the form nor an envelope field of its collection.
    UnknownField {
        form: String,
        collection: String,
    },
    /// `form` or `form_version` name another definition than the one checking the set.
    FormMismatch {
        expected: String,
        got: String,
    },
    WrongType {
        expected: &'static str,
        got: String,
    },
    OutOfRange {
        got: String,
        limit: Limit,
    },
    TooLong {
        max: usize,
        chars: usize,
    },
    UnknownChoice {
        got: String,
        choices: Vec<String>,
    },
    DuplicateChoice {
        value: String,
    },
    TooFewChoices {
        min: u32,
        got: usize,
    },
    TooManyChoices {
        max: u32,
        got: usize,
    },
    BadDate {
        expected: &'static str,
        got: String,
    },
    BadGeopoint {
        expected: String,
        got: String,
    },
    BadPhotoRef {
        got: String,
    },
    /// A required field is null, blank, or (`got: None`) missing when the record is created.
    Required {
        got: Option<String>,
    },
}

/// The bound a value broke, as text so that integers, decimals and dates share one problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    Min(String),
    Max(String),
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Min(min) => write!(f, "below the minimum {min}"),
            Limit::Max(max) => write!(f, "above the maximum {max}"),
        }
    }
}

impl FieldProblem {
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownField { .. } => "unknown_field",
            Self::FormMismatch { .. } => "form_mismatch",
            Self::WrongType { .. } => "wrong_type",
            Self::OutOfRange { .. } => "out_of_range",
            Self::TooLong { .. } => "too_long",
            Self::UnknownChoice { .. } => "unknown_choice",
            Self::DuplicateChoice { .. } => "duplicate_choice",
            Self::TooFewChoices { .. } => "too_few_choices",
            Self::TooManyChoices { .. } => "too_many_choices",
            Self::BadDate { .. } => "bad_date",
            Self::BadGeopoint { .. } => "bad_geopoint",
            Self::BadPhotoRef { .. } => "bad_photo_ref",
            Self::Required { .. } => "required",
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownField { form, collection } => write!(
                f,
                "not a question of {form}, nor an envelope field of {collection}"
            ),
            Self::FormMismatch { expected, got } => write!(
                f,
                "the answer is for {got}, but was checked against {expected}"
            ),
            Self::WrongType { expected, got } | Self::BadDate { expected, got } => {
                write!(f, "expected {expected}, got {got}")
            }
            Self::BadGeopoint { expected, got } => write!(f, "expected {expected}, got {got}"),
            Self::OutOfRange { got, limit } => write!(f, "{got} is {limit}"),
            Self::TooLong { max, chars } => write!(
                f,
                "{chars} characters is longer than the maximum of {max} characters"
            ),
            Self::UnknownChoice { got, choices } => write!(
                f,
                "{got:?} is not one of the choices {}",
                choices.join(", ")
            ),
            Self::DuplicateChoice { value } => write!(f, "{value:?} is selected more than once"),
            Self::TooFewChoices { min, got } => {
                write!(f, "{got} selected, fewer than the minimum {min}")
            }
            Self::TooManyChoices { max, got } => {
                write!(f, "{got} selected, more than the maximum {max}")
            }
            Self::BadPhotoRef { got } => write!(
                f,
                "expected the record id of a photo (a lowercase hyphenated UUID), got {got}"
            ),
            Self::Required { got: None } => write!(f, "a value is required but none was sent"),
            Self::Required { got: Some(got) } => write!(f, "a value is required, got {got}"),
        }
    }
}

impl std::error::Error for FieldProblem {}

/// Serialises as the code alone: the details are for the message, the code is the contract.
impl Serialize for FieldProblem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl FormDef {
    /// Parses a definition and checks it; what an import or a fixture loader wants. A parse
    /// error is placed by line and column, since the JSON has no path yet.
    pub fn from_json(text: &str) -> Result<FormDef, FormDefError> {
        let def: FormDef = serde_json::from_str(text).map_err(|e| {
            let at = format!("json line {} column {}", e.line(), e.column());
            let message = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let problem = message.strip_suffix(&suffix).unwrap_or(&message);
            FormDefError::new(at, problem)
        })?;
        def.check()?;
        Ok(def)
    }

    pub fn form_ref(&self) -> FormRef {
        FormRef {
            id: self.id.clone(),
            version: self.version,
        }
    }

    pub fn question(&self, key: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.key.as_str() == key)
    }

    /// Checks what the types cannot say: that every answer the form allows can be given, and
    /// that no two parts of it claim the same field. Returns the first problem in the order of
    /// the JSON.
    pub fn check(&self) -> Result<(), FormDefError> {
        if self.version < 1 {
            return Err(FormDefError::new("version", "must be 1 or more"));
        }
        if !FORM_COLLECTIONS.contains(&self.collection.as_str()) {
            return Err(FormDefError::new(
                "collection",
                format!(
                    "must be one of {}, not {}",
                    FORM_COLLECTIONS.join(", "),
                    self.collection
                ),
            ));
        }
        check_labels(&self.title, "title")?;
        if !self.facility_kinds.is_empty() && self.collection.as_str() != "visits" {
            return Err(FormDefError::new(
                "facility_kinds",
                "only a visits form is filled in at a facility",
            ));
        }
        let mut kinds = BTreeSet::new();
        for (i, kind) in self.facility_kinds.iter().enumerate() {
            let at = format!("facility_kinds[{i}]");
            if !is_code(kind, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
            }) {
                return Err(FormDefError::new(
                    at,
                    format!("{kind:?} is not a facility kind (1 to 64 of a-z, 0-9, '_')"),
                ));
            }
            if !kinds.insert(kind) {
                return Err(FormDefError::new(at, format!("{kind:?} is listed twice")));
            }
        }
        if self.questions.is_empty() {
            return Err(FormDefError::new(
                "questions",
                "a form needs at least one question",
            ));
        }
        let mut keys: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, question) in self.questions.iter().enumerate() {
            let at = format!("questions[{i}]");
            let key = question.key.as_str();
            if is_envelope_name(key) {
                return Err(FormDefError::new(
                    format!("{at}.key"),
                    format!("{key:?} is an envelope field of every answer, not a question"),
                ));
            }
            if let Some(first) = keys.insert(key, i) {
                return Err(FormDefError::new(
                    format!("{at}.key"),
                    format!("{key:?} is already the key of questions[{first}]"),
                ));
            }
            question.check(&at)?;
        }
        Ok(())
    }

    /// Checks the fields of one set op against this form. `creating` is true when the op makes
    /// the record: then required fields must be present, while a later op may set any subset.
    ///
    /// Returns the first problem in a fixed order (the envelope, then the other fields by
    /// name, then missing required questions in form order), so the same op always gets the
    /// same answer, whichever map order it arrived in.
    pub fn validate(&self, set: &Map<String, Value>, creating: bool) -> Result<(), FieldError> {
        let named = FormRef::from_set(set)?;
        if named.id != self.id {
            return Err(FieldError::new(
                "form",
                FieldProblem::FormMismatch {
                    expected: format!("form {}", self.id),
                    got: format!("form {}", named.id),
                },
            ));
        }
        if named.version != self.version {
            return Err(FieldError::new(
                "form_version",
                FieldProblem::FormMismatch {
                    expected: format!("version {}", self.version),
                    got: format!("version {}", named.version),
                },
            ));
        }
        let envelope = envelope_fields(self.collection.as_str());
        for &name in envelope {
            if matches!(name, "form" | "form_version") {
                continue;
            }
            match set.get(name) {
                Some(value) => check_envelope_value(name, value),
                None if creating && name != "gps" => Err(FieldProblem::Required { got: None }),
                None => Ok(()),
            }
            .map_err(|problem| FieldError::new(name, problem))?;
        }
        let mut keys: Vec<&String> = set
            .keys()
            .filter(|key| !envelope.contains(&key.as_str()))
            .collect();
        keys.sort();
        for key in keys {
            match self.question(key) {
                Some(question) => question.check_value(&set[key]),
                None => Err(FieldProblem::UnknownField {
                    form: self.form_ref().to_string(),
                    collection: self.collection.to_string(),
                }),
            }
            .map_err(|problem| FieldError::new(key.as_str(), problem))?;
        }
        if creating
            && let Some(missing) = self
                .questions
                .iter()
                .find(|q| q.required && !set.contains_key(q.key.as_str()))
        {
            return Err(FieldError::new(
                missing.key.as_str(),
                FieldProblem::Required { got: None },
            ));
        }
        Ok(())
    }
}

impl Question {
    /// Checks one answer to this question. `null` clears an answer, which only an optional
    /// question allows.
    pub fn check_value(&self, value: &Value) -> Result<(), FieldProblem> {
        if value.is_null() {
            return if self.required {
                Err(FieldProblem::Required {
                    got: Some("null".into()),
                })
            } else {
                Ok(())
            };
        }
        match &self.kind {
            QuestionKind::Integer { min, max } => check_integer(value, *min, *max),
            QuestionKind::Decimal { min, max } => check_decimal(value, *min, *max),
            QuestionKind::Text { max_length } => {
                let text = value.as_str().ok_or_else(|| wrong_type("a text", value))?;
                // A blank text box is an unanswered question, whatever the keyboard sent.
                if self.required && text.trim().is_empty() {
                    return Err(FieldProblem::Required {
                        got: Some(describe(value)),
                    });
                }
                check_length(text, max_length.map_or(TEXT_MAX_CHARS, |max| max as usize))
            }
            QuestionKind::SelectOne { choices } => {
                let got = value
                    .as_str()
                    .ok_or_else(|| wrong_type("one choice value (a string)", value))?;
                check_choice(got, choices)
            }
            QuestionKind::SelectMultiple {
                choices,
                min_selected,
                max_selected,
            } => check_selection(value, choices, *min_selected, *max_selected, self.required),
            QuestionKind::Boolean => match value {
                Value::Bool(_) => Ok(()),
                other => Err(wrong_type("true or false", other)),
            },
            QuestionKind::Date { min, max } => check_date(value, min.as_deref(), max.as_deref()),
            QuestionKind::Geopoint => check_geopoint(value),
            QuestionKind::Photo => check_photo(value),
        }
    }

    fn check(&self, at: &str) -> Result<(), FormDefError> {
        check_labels(&self.label, &format!("{at}.label"))?;
        if let Some(hint) = &self.hint {
            check_labels(hint, &format!("{at}.hint"))?;
        }
        match &self.kind {
            QuestionKind::Integer { min, max } => check_bounds(at, *min, *max),
            QuestionKind::Decimal { min, max } => {
                for (name, bound) in [("min", min), ("max", max)] {
                    if bound.is_some_and(|b| !b.is_finite()) {
                        return Err(FormDefError::new(
                            format!("{at}.{name}"),
                            "must be a finite number",
                        ));
                    }
                }
                check_bounds(at, *min, *max)
            }
            QuestionKind::Text { max_length } => match max_length {
                Some(max) if *max == 0 || *max as usize > TEXT_MAX_CHARS => Err(FormDefError::new(
                    format!("{at}.max_length"),
                    format!("must be from 1 to {TEXT_MAX_CHARS}, not {max}"),
                )),
                _ => Ok(()),
            },
            QuestionKind::SelectOne { choices } => check_choices(at, choices),
            QuestionKind::SelectMultiple {
                choices,
                min_selected,
                max_selected,
            } => {
                check_choices(at, choices)?;
                let count = choices.len();
                if let Some(min) = min_selected.filter(|&min| min as usize > count) {
                    return Err(FormDefError::new(
                        format!("{at}.min_selected"),
                        format!("{min} is more than the {count} choices"),
                    ));
                }
                if let Some(max) = *max_selected
                    && (max == 0 || max as usize > count)
                {
                    return Err(FormDefError::new(
                        format!("{at}.max_selected"),
                        format!("must be from 1 to the {count} choices, not {max}"),
                    ));
                }
                check_bounds(at, *min_selected, *max_selected).map_err(|mut e| {
                    e.at = format!("{at}.min_selected");
                    e
                })
            }
            QuestionKind::Date { min, max } => {
                let mut parsed = [None, None];
                for (slot, (name, bound)) in parsed.iter_mut().zip([("min", min), ("max", max)]) {
                    if let Some(text) = bound {
                        *slot = Some(parse_date(text).ok_or_else(|| {
                            FormDefError::new(
                                format!("{at}.{name}"),
                                format!("{text:?} is not a calendar date YYYY-MM-DD"),
                            )
                        })?);
                    }
                }
                let [min, max] = parsed;
                check_bounds(at, min, max)
            }
            QuestionKind::Boolean | QuestionKind::Geopoint | QuestionKind::Photo => Ok(()),
        }
    }
}

fn check_labels(labels: &Labels, at: &str) -> Result<(), FormDefError> {
    for (lang, text) in [("ky", &labels.ky), ("ru", &labels.ru), ("en", &labels.en)] {
        if text.trim().is_empty() {
            return Err(FormDefError::new(
                format!("{at}.{lang}"),
                "must not be empty",
            ));
        }
    }
    Ok(())
}

/// A bound pair no answer can satisfy is a broken form, not a strict one.
fn check_bounds<T: PartialOrd + fmt::Display>(
    at: &str,
    min: Option<T>,
    max: Option<T>,
) -> Result<(), FormDefError> {
    match (min, max) {
        (Some(min), Some(max)) if min > max => Err(FormDefError::new(
            format!("{at}.min"),
            format!("the minimum {min} is greater than the maximum {max}"),
        )),
        _ => Ok(()),
    }
}

fn check_choices(at: &str, choices: &[Choice]) -> Result<(), FormDefError> {
    if choices.is_empty() {
        return Err(FormDefError::new(
            format!("{at}.choices"),
            "a select question needs at least one choice",
        ));
    }
    let mut values: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, choice) in choices.iter().enumerate() {
        let at = format!("{at}.choices[{i}]");
        let value = choice.value.as_str();
        if !is_choice_value(value) {
            return Err(FormDefError::new(
                format!("{at}.value"),
                format!("{value:?} is not a choice value (1 to 64 of a-z, 0-9, '_', '-', '+')"),
            ));
        }
        if let Some(first) = values.insert(value, i) {
            return Err(FormDefError::new(
                format!("{at}.value"),
                format!("{value:?} is already the value of choices[{first}]"),
            ));
        }
        check_labels(&choice.label, &format!("{at}.label"))?;
    }
    Ok(())
}

fn is_choice_value(value: &str) -> bool {
    is_code(value, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '+')
    })
}

fn is_code(text: &str, allowed: impl Fn(char) -> bool) -> bool {
    (1..=64).contains(&text.len()) && text.chars().all(allowed)
}

fn check_envelope_value(name: &str, value: &Value) -> Result<(), FieldProblem> {
    match name {
        "facility" | "village" => check_code(value),
        "captured_at" => check_timestamp(value),
        "gps" if value.is_null() => Ok(()),
        "gps" => check_geopoint(value),
        _ => Ok(()),
    }
}

fn check_code(value: &Value) -> Result<(), FieldProblem> {
    match value {
        Value::String(text) if text.trim().is_empty() => Err(FieldProblem::Required {
            got: Some(describe(value)),
        }),
        Value::String(text) => check_length(text, CODE_MAX_CHARS),
        Value::Null => Err(FieldProblem::Required {
            got: Some("null".into()),
        }),
        other => Err(wrong_type("a code (a string)", other)),
    }
}

fn check_timestamp(value: &Value) -> Result<(), FieldProblem> {
    const EXPECTED: &str = "an RFC 3339 timestamp with offset, such as 2026-05-04T10:22:00+06:00";
    match value {
        Value::String(text) => match OffsetDateTime::parse(text, &Rfc3339) {
            Ok(_) => Ok(()),
            Err(_) => Err(FieldProblem::BadDate {
                expected: EXPECTED,
                got: describe(value),
            }),
        },
        Value::Null => Err(FieldProblem::Required {
            got: Some("null".into()),
        }),
        other => Err(wrong_type(EXPECTED, other)),
    }
}

/// Length in characters, not bytes: a limit shown to a member as "2000 characters" must mean
/// the same for Kyrgyz text as for Latin.
fn check_length(text: &str, max: usize) -> Result<(), FieldProblem> {
    // Cheap first: a text of at most `max` bytes has at most `max` characters.
    if text.len() <= max {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(FieldProblem::TooLong { max, chars });
    }
    Ok(())
}

/// Integers are JSON integers only: `3.0` is refused like `3.5`. A number written with a
/// fraction came from floating-point code on the phone, and accepting it would let `2.9999999`
/// style values in through rounding on some other path.
fn check_integer(value: &Value, min: Option<i64>, max: Option<i64>) -> Result<(), FieldProblem> {
    let Value::Number(n) = value else {
        return Err(wrong_type("an integer", value));
    };
    match n.as_i64() {
        Some(v) => check_range(v, min, max, || n.to_string()),
        // Whole but beyond i64: above any maximum the question can have.
        None if n.is_u64() => Err(FieldProblem::OutOfRange {
            got: n.to_string(),
            limit: Limit::Max(max.unwrap_or(i64::MAX).to_string()),
        }),
        None => Err(wrong_type("an integer", value)),
    }
}

fn check_decimal(value: &Value, min: Option<f64>, max: Option<f64>) -> Result<(), FieldProblem> {
    let v = match value {
        Value::Number(n) => n.as_f64().filter(|v| v.is_finite()),
        _ => None,
    }
    .ok_or_else(|| wrong_type("a number", value))?;
    check_range(v, min, max, || value.to_string())
}

fn check_range<T: PartialOrd + fmt::Display>(
    v: T,
    min: Option<T>,
    max: Option<T>,
    got: impl Fn() -> String,
) -> Result<(), FieldProblem> {
    if let Some(min) = min.filter(|min| v < *min) {
        return Err(FieldProblem::OutOfRange {
            got: got(),
            limit: Limit::Min(min.to_string()),
        });
    }
    if let Some(max) = max.filter(|max| v > *max) {
        return Err(FieldProblem::OutOfRange {
            got: got(),
            limit: Limit::Max(max.to_string()),
        });
    }
    Ok(())
}

fn check_choice(got: &str, choices: &[Choice]) -> Result<(), FieldProblem> {
    if choices.iter().any(|c| c.value == got) {
        Ok(())
    } else {
        Err(FieldProblem::UnknownChoice {
            got: shorten(got),
            choices: choices.iter().map(|c| c.value.clone()).collect(),
        })
    }
}

fn check_selection(
    value: &Value,
    choices: &[Choice],
    min_selected: Option<u32>,
    max_selected: Option<u32>,
    required: bool,
) -> Result<(), FieldProblem> {
    const EXPECTED: &str = "an array of choice values (strings)";
    let Value::Array(items) = value else {
        return Err(wrong_type(EXPECTED, value));
    };
    // An empty selection answers nothing, so a required question refuses it like null.
    if required && items.is_empty() {
        return Err(FieldProblem::Required {
            got: Some("an empty array".into()),
        });
    }
    let mut seen = BTreeSet::new();
    for item in items {
        let Value::String(got) = item else {
            return Err(FieldProblem::WrongType {
                expected: EXPECTED,
                got: format!("an array holding {}", describe(item)),
            });
        };
        check_choice(got, choices)?;
        if !seen.insert(got.as_str()) {
            return Err(FieldProblem::DuplicateChoice { value: got.clone() });
        }
    }
    let count = items.len();
    if let Some(min) = min_selected.filter(|&min| count < min as usize) {
        return Err(FieldProblem::TooFewChoices { min, got: count });
    }
    if let Some(max) = max_selected.filter(|&max| count > max as usize) {
        return Err(FieldProblem::TooManyChoices { max, got: count });
    }
    Ok(())
}

fn check_date(value: &Value, min: Option<&str>, max: Option<&str>) -> Result<(), FieldProblem> {
    const EXPECTED: &str = "a calendar date YYYY-MM-DD";
    let Value::String(text) = value else {
        return Err(wrong_type(EXPECTED, value));
    };
    let date = parse_date(text).ok_or_else(|| FieldProblem::BadDate {
        expected: EXPECTED,
        got: describe(value),
    })?;
    // Bounds of an unchecked definition may not parse; they then bound nothing.
    check_range(
        date,
        min.and_then(parse_date),
        max.and_then(parse_date),
        || text.clone(),
    )
}

/// Exactly `YYYY-MM-DD` with a real calendar day. Written by hand rather than with a format
/// description because those also take signs and wider years, which no phone sends on purpose.
fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

fn check_geopoint(value: &Value) -> Result<(), FieldProblem> {
    let bad = |expected: &str, got: String| FieldProblem::BadGeopoint {
        expected: expected.to_owned(),
        got,
    };
    let Value::Object(point) = value else {
        return Err(bad(
            "a geopoint object {lat, lon, acc?, alt?}",
            describe(value),
        ));
    };
    if let Some(key) = point
        .keys()
        .find(|key| !matches!(key.as_str(), "lat" | "lon" | "acc" | "alt"))
    {
        return Err(bad(
            "a geopoint with only the keys lat, lon, acc and alt",
            format!("the key {:?}", shorten(key)),
        ));
    }
    let number = |key: &'static str| -> Result<Option<f64>, FieldProblem> {
        match point.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => match n.as_f64().filter(|x| x.is_finite()) {
                Some(x) => Ok(Some(x)),
                None => Err(bad(&format!("a finite number for {key}"), describe(v))),
            },
            Some(other) => Err(bad(&format!("a number for {key}"), describe(other))),
        }
    };
    let lat = number("lat")?.ok_or_else(|| bad("a number for lat", "no lat".into()))?;
    let lon = number("lon")?.ok_or_else(|| bad("a number for lon", "no lon".into()))?;
    let acc = number("acc")?;
    number("alt")?;
    let got = |key: &str| format!("{key} {}", point[key]);
    check_range(lat, Some(-90.0), Some(90.0), || got("lat"))?;
    check_range(lon, Some(-180.0), Some(180.0), || got("lon"))?;
    if let Some(acc) = acc {
        check_range(acc, Some(0.0), None, || got("acc"))?;
    }
    Ok(())
}

/// Only the canonical text of a record id (lowercase, hyphenated) is accepted, so that the
/// reference equals the photo record's id as text wherever it is compared or joined.
fn check_photo(value: &Value) -> Result<(), FieldProblem> {
    let canonical = match value {
        Value::String(text) => {
            text.len() == uuid::fmt::Hyphenated::LENGTH
                && !text.bytes().any(|b| b.is_ascii_uppercase())
                && uuid::Uuid::try_parse(text).is_ok()
        }
        _ => false,
    };
    if canonical {
        Ok(())
    } else {
        Err(FieldProblem::BadPhotoRef {
            got: describe(value),
        })
    }
}

fn wrong_type(expected: &'static str, got: &Value) -> FieldProblem {
    FieldProblem::WrongType {
        expected,
        got: describe(got),
    }
}

/// A short description of a value for messages; long strings are cut so a message stays a line.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("the string {:?}", shorten(s)),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn shorten(text: &str) -> String {
    const KEEP: usize = 40;
    match text.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The JSON shape of a question: one flat object holding every option any type can have.
/// `Question` is this after the options are matched to the type. (Serde's `flatten` would give
/// the same shape but cannot refuse unknown keys.)
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    key: FieldName,
    #[serde(rename = "type")]
    kind: KindTag,
    #[serde(default, skip_serializing_if = "is_false")]
    required: bool,
    label: Labels,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hint: Option<Labels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<RawBound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<RawBound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_length: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_selected: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_selected: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    choices: Option<Vec<Choice>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindTag {
    Integer,
    Decimal,
    Text,
    SelectOne,
    SelectMultiple,
    Boolean,
    Date,
    Geopoint,
    Photo,
}

impl KindTag {
    fn name(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::Text => "text",
            Self::SelectOne => "select_one",
            Self::SelectMultiple => "select_multiple",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Geopoint => "geopoint",
            Self::Photo => "photo",
        }
    }

    fn options(self) -> &'static [&'static str] {
        match self {
            Self::Integer | Self::Decimal | Self::Date => &["min", "max"],
            Self::Text => &["max_length"],
            Self::SelectOne => &["choices"],
            Self::SelectMultiple => &["choices", "min_selected", "max_selected"],
            Self::Boolean | Self::Geopoint | Self::Photo => &[],
        }
    }
}

/// A `min` or `max` as written; which kinds are acceptable depends on the question's type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
enum RawBound {
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for RawBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            // Debug keeps the fraction (`3.0`), which is the point of saying what was written.
            Self::Float(v) => write!(f, "{v:?}"),
            Self::Text(v) => write!(f, "{v:?}"),
        }
    }
}

impl<'de> Deserialize<'de> for RawBound {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BoundVisitor;
        impl Visitor<'_> for BoundVisitor {
            type Value = RawBound;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a date string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawBound, E> {
                Ok(RawBound::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawBound, E> {
                Ok(i64::try_from(v).map_or(RawBound::Float(v as f64), RawBound::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawBound, E> {
                Ok(RawBound::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawBound, E> {
                Ok(RawBound::Text(v.to_owned()))
            }
        }
        d.deserialize_any(BoundVisitor)
    }
}

impl TryFrom<RawQuestion> for Question {
    type Error = String;

    fn try_from(raw: RawQuestion) -> Result<Self, String> {
        let tag = raw.kind;
        let key = raw.key;
        let present = [
            ("min", raw.min.is_some()),
            ("max", raw.max.is_some()),
            ("max_length", raw.max_length.is_some()),
            ("min_selected", raw.min_selected.is_some()),
            ("max_selected", raw.max_selected.is_some()),
            ("choices", raw.choices.is_some()),
        ];
        if let Some((option, _)) = present
            .iter()
            .find(|(option, present)| *present && !tag.options().contains(option))
        {
            return Err(format!(
                "question {key}: `{option}` does not apply to a question of type {}",
                tag.name()
            ));
        }
        let bound = |name: &str, bound: Option<RawBound>, wanted: &str| {
            format!(
                "question {key}: `{name}` of a {} question must be {wanted}, not {}",
                tag.name(),
                bound.map_or_else(String::new, |b| b.to_string())
            )
        };
        let integer = |name: &str, b: Option<RawBound>| match b {
            None => Ok(None),
            Some(RawBound::Int(v)) => Ok(Some(v)),
            other => Err(bound(name, other, "a whole number")),
        };
        let decimal = |name: &str, b: Option<RawBound>| match b {
            None => Ok(None),
            Some(RawBound::Int(v)) => Ok(Some(v as f64)),
            Some(RawBound::Float(v)) => Ok(Some(v)),
            other => Err(bound(name, other, "a number")),
        };
        let date = |name: &str, b: Option<RawBound>| match b {
            None => Ok(None),
            Some(RawBound::Text(v)) => Ok(Some(v)),
            other => Err(bound(name, other, "a date string YYYY-MM-DD")),
        };
        let choices = |choices: Option<Vec<Choice>>| {
            choices
                .ok_or_else(|| format!("question {key}: a {} question needs `choices`", tag.name()))
        };
        let kind = match tag {
            KindTag::Integer => QuestionKind::Integer {
                min: integer("min", raw.min)?,
                max: integer("max", raw.max)?,
            },
            KindTag::Decimal => QuestionKind::Decimal {
                min: decimal("min", raw.min)?,
                max: decimal("max", raw.max)?,
            },
            KindTag::Text => QuestionKind::Text {
                max_length: raw.max_length,
            },
            KindTag::SelectOne => QuestionKind::SelectOne {
                choices: choices(raw.choices)?,
            },
            KindTag::SelectMultiple => QuestionKind::SelectMultiple {
                choices: choices(raw.choices)?,
                min_selected: raw.min_selected,
                max_selected: raw.max_selected,
            },
            KindTag::Boolean => QuestionKind::Boolean,
            KindTag::Date => QuestionKind::Date {
                min: date("min", raw.min)?,
                max: date("max", raw.max)?,
            },
            KindTag::Geopoint => QuestionKind::Geopoint,
            KindTag::Photo => QuestionKind::Photo,
        };
        Ok(Question {
            key,
            label: raw.label,
            hint: raw.hint,
            required: raw.required,
            kind,
        })
    }
}

impl From<Question> for RawQuestion {
    fn from(q: Question) -> Self {
        let mut raw = RawQuestion {
            key: q.key,
            kind: q.kind.tag(),
            required: q.required,
            label: q.label,
            hint: q.hint,
            min: None,
            max: None,
            max_length: None,
            min_selected: None,
            max_selected: None,
            choices: None,
        };
        match q.kind {
            QuestionKind::Integer { min, max } => {
                raw.min = min.map(RawBound::Int);
                raw.max = max.map(RawBound::Int);
            }
            QuestionKind::Decimal { min, max } => {
                raw.min = min.map(RawBound::Float);
                raw.max = max.map(RawBound::Float);
            }
            QuestionKind::Text { max_length } => raw.max_length = max_length,
            QuestionKind::SelectOne { choices } => raw.choices = Some(choices),
            QuestionKind::SelectMultiple {
                choices,
                min_selected,
                max_selected,
            } => {
                raw.choices = Some(choices);
                raw.min_selected = min_selected;
                raw.max_selected = max_selected;
            }
            QuestionKind::Date { min, max } => {
                raw.min = min.map(RawBound::Text);
                raw.max = max.map(RawBound::Text);
            }
            QuestionKind::Boolean | QuestionKind::Geopoint | QuestionKind::Photo => {}
        }
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_exactly_calendar_days() {
        assert!(parse_date("2026-05-04").is_some());
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2000-02-29").is_some());
        for bad in [
            "2026-02-29",
            "1900-02-29",
            "2026-02-30",
            "2026-04-31",
            "2026-13-01",
            "2026-00-10",
            "2026-01-00",
            "2026-1-05",
            "+2026-01-05",
            "2026/01/05",
            "20260105",
            "2026-01-05T00:00:00Z",
            "２０２６-01-05",
            "",
        ] {
            assert!(parse_date(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "ы".repeat(100);
        let described = describe(&Value::String(long));
        assert!(described.ends_with("…\""), "{described}");
        assert_eq!(described.chars().filter(|c| *c == 'ы').count(), 40);
    }
}
