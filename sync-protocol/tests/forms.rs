//! Form definitions and the validation of answers against them, through the public API only.

use std::path::PathBuf;

use serde_json::{Map, Value, json};
use sync_protocol::form::{FORM_COLLECTIONS, Limit, TEXT_MAX_CHARS};
use sync_protocol::{
    FieldError, FieldProblem, FormDef, FormDefError, FormId, FormRef, QuestionKind, envelope_fields,
};

const PHOTO_ID: &str = "0190f3a2-7c4e-7b1d-9f0e-2a4b6c8d0e1f";

fn labels(en: &str) -> Value {
    json!({"ky": format!("{en} (ky)"), "ru": format!("{en} (ru)"), "en": en})
}

fn choices(values: &[&str]) -> Value {
    values
        .iter()
        .map(|v| json!({"value": v, "label": labels(v)}))
        .collect()
}

/// A visits form with every question type, bounded and unbounded.
fn visit_form_json() -> Value {
    json!({
        "id": "test_visit",
        "version": 2,
        "collection": "visits",
        "title": labels("Test visit"),
        "facility_kinds": ["water_point"],
        "questions": [
            {"key": "count", "type": "integer", "min": 0, "max": 24, "required": true, "label": labels("Count")},
            {"key": "big", "type": "integer", "label": labels("Unbounded integer")},
            {"key": "ratio", "type": "decimal", "min": -1.5, "max": 2, "label": labels("Ratio")},
            {"key": "short", "type": "text", "max_length": 5, "label": labels("Short text")},
            {"key": "essay", "type": "text", "label": labels("Long text")},
            {"key": "answer", "type": "text", "required": true, "label": labels("Required text")},
            {"key": "one", "type": "select_one", "choices": choices(&["a", "b", "60+"]), "label": labels("One")},
            {"key": "many", "type": "select_multiple", "choices": choices(&["a", "b", "c", "d"]), "min_selected": 1, "max_selected": 3, "label": labels("Many")},
            {"key": "checks", "type": "select_multiple", "required": true, "choices": choices(&["x", "y"]), "label": labels("Required many")},
            {"key": "flag", "type": "boolean", "label": labels("Flag")},
            {"key": "day", "type": "date", "min": "2024-01-01", "max": "2027-12-31", "label": labels("Day")},
            {"key": "any_day", "type": "date", "label": labels("Any day")},
            {"key": "spot", "type": "geopoint", "label": labels("Spot")},
            {"key": "picture", "type": "photo", "label": labels("Picture")},
        ]
    })
}

fn visit_form() -> FormDef {
    FormDef::from_json(&visit_form_json().to_string()).unwrap()
}

fn survey_form() -> FormDef {
    FormDef::from_json(
        &json!({
            "id": "test_survey",
            "version": 1,
            "collection": "survey_responses",
            "title": labels("Test survey"),
            "year": 2026,
            "questions": [
                {"key": "sex", "type": "select_one", "required": true, "choices": choices(&["female", "male"]), "label": labels("Sex")},
            ]
        })
        .to_string(),
    )
    .unwrap()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// A complete, valid creating set of the visit form.
fn visit_set() -> Map<String, Value> {
    object(json!({
        "form": "test_visit",
        "form_version": 2,
        "facility": "KG-N-AB-01-F02",
        "captured_at": "2026-05-04T10:22:00+06:00",
        "count": 12,
        "answer": "ok",
        "checks": ["x"],
    }))
}

fn survey_set() -> Map<String, Value> {
    object(json!({
        "form": "test_survey",
        "form_version": 1,
        "village": "KG-N-AB-01-V1",
        "captured_at": "2026-10-12T09:00:00+06:00",
        "sex": "female",
    }))
}

fn with(mut set: Map<String, Value>, key: &str, value: Value) -> Map<String, Value> {
    set.insert(key.into(), value);
    set
}

fn without(mut set: Map<String, Value>, key: &str) -> Map<String, Value> {
    set.remove(key);
    set
}

/// Validates an update that sets `key` to `value` (plus the envelope's form fields).
fn set_one(key: &str, value: Value) -> Result<(), FieldError> {
    let set = object(json!({"form": "test_visit", "form_version": 2}));
    visit_form().validate(&with(set, key, value), false)
}

#[track_caller]
fn assert_ok(key: &str, value: Value) {
    if let Err(e) = set_one(key, value.clone()) {
        panic!("{key} = {value}: {e}");
    }
}

#[track_caller]
fn assert_problem(key: &str, value: Value, code: &str) -> FieldError {
    let err = set_one(key, value.clone())
        .expect_err(&format!("{key} = {value} should be refused with {code}"));
    assert_eq!(
        (err.field.as_str(), err.code()),
        (key, code),
        "{key} = {value}: {err}"
    );
    err
}

#[track_caller]
fn assert_set_problem(
    form: &FormDef,
    set: &Map<String, Value>,
    creating: bool,
    field: &str,
    code: &str,
) -> FieldError {
    let err = form
        .validate(set, creating)
        .expect_err(&format!("{set:?} should be refused at {field} with {code}"));
    assert_eq!((err.field.as_str(), err.code()), (field, code), "{err}");
    err
}

#[test]
fn a_complete_answer_is_accepted() {
    let form = visit_form();
    form.validate(&visit_set(), true).unwrap();
    let everything = object(json!({
        "form": "test_visit", "form_version": 2, "facility": "F1",
        "captured_at": "2026-05-04T04:22:00Z", "gps": {"lat": 41.2, "lon": 75.7, "acc": 6},
        "count": 0, "big": -5, "ratio": 0.25, "short": "hello", "essay": "long enough",
        "answer": "yes", "one": "60+", "many": ["a", "d"], "checks": ["y", "x"], "flag": false,
        "day": "2026-05-04", "any_day": "1999-12-31",
        "spot": {"lat": -33.9, "lon": 18.4, "acc": 0.5, "alt": 12}, "picture": PHOTO_ID,
    }));
    form.validate(&everything, true).unwrap();
    survey_form().validate(&survey_set(), true).unwrap();
}

#[test]
fn integers_are_json_integers_in_range() {
    for ok in [json!(0), json!(24), json!(12)] {
        assert_ok("count", ok);
    }
    assert_ok("big", json!(i64::MIN));
    assert_ok("big", json!(i64::MAX));
    // 3.0 is a float in JSON and refused like 3.5: integers are written without a fraction.
    for bad in [
        json!(3.5),
        json!(3.0),
        json!("3"),
        json!(true),
        json!([3]),
        json!({"v": 3}),
    ] {
        assert_problem("count", bad, "wrong_type");
    }
    let err = assert_problem("count", json!(30), "out_of_range");
    assert_eq!(
        err.problem,
        FieldProblem::OutOfRange {
            got: "30".into(),
            limit: Limit::Max("24".into())
        }
    );
    assert_eq!(
        err.to_string(),
        r#"field "count": 30 is above the maximum 24"#
    );
    let err = assert_problem("count", json!(-1), "out_of_range");
    assert_eq!(
        err.to_string(),
        r#"field "count": -1 is below the minimum 0"#
    );
    // Beyond i64 is out of range rather than of the wrong type: it is a whole number.
    assert_problem("big", json!(u64::MAX), "out_of_range");
    assert_problem("big", json!(1e20), "wrong_type");
}

#[test]
fn decimals_are_finite_numbers_in_range() {
    for ok in [json!(0), json!(1.25), json!(-1.5), json!(2), json!(2.0)] {
        assert_ok("ratio", ok);
    }
    for bad in [
        json!("1.0"),
        json!("NaN"),
        json!("Infinity"),
        json!(true),
        json!([1.0]),
    ] {
        assert_problem("ratio", bad, "wrong_type");
    }
    let err = assert_problem("ratio", json!(-1.6), "out_of_range");
    assert_eq!(
        err.to_string(),
        r#"field "ratio": -1.6 is below the minimum -1.5"#
    );
    let err = assert_problem("ratio", json!(2.01), "out_of_range");
    assert_eq!(
        err.to_string(),
        r#"field "ratio": 2.01 is above the maximum 2"#
    );
}

#[test]
fn text_length_is_counted_in_characters() {
    assert_ok("short", json!(""));
    assert_ok("short", json!("abcde"));
    // Five Cyrillic letters are ten bytes, and still five characters.
    assert_ok("short", json!("сууда"));
    assert_ok("short", json!("өңүү😀"));
    let err = assert_problem("short", json!("абвгде"), "too_long");
    assert_eq!(err.problem, FieldProblem::TooLong { max: 5, chars: 6 });
    assert_problem("short", json!("abcdef"), "too_long");
    for bad in [json!(5), json!({"text": "a"}), json!(["a"]), json!(false)] {
        assert_problem("short", bad, "wrong_type");
    }
    // Without max_length the default cap applies, also in characters.
    assert_ok("essay", json!("ы".repeat(TEXT_MAX_CHARS)));
    let err = assert_problem("essay", json!("ы".repeat(TEXT_MAX_CHARS + 1)), "too_long");
    assert_eq!(
        err.problem,
        FieldProblem::TooLong {
            max: TEXT_MAX_CHARS,
            chars: TEXT_MAX_CHARS + 1
        }
    );
}

#[test]
fn a_blank_required_text_is_missing() {
    assert_ok("answer", json!("ok"));
    assert_problem("answer", json!(""), "required");
    assert_problem("answer", json!("  \n"), "required");
    assert_problem("answer", json!(null), "required");
}

#[test]
fn select_one_takes_one_listed_value() {
    for ok in ["a", "b", "60+"] {
        assert_ok("one", json!(ok));
    }
    let err = assert_problem("one", json!("c"), "unknown_choice");
    assert_eq!(
        err.to_string(),
        r#"field "one": "c" is not one of the choices a, b, 60+"#
    );
    assert_problem("one", json!("A"), "unknown_choice");
    assert_problem("one", json!(""), "unknown_choice");
    for bad in [json!(1), json!(["a"]), json!(true), json!({"value": "a"})] {
        assert_problem("one", bad, "wrong_type");
    }
}

#[test]
fn select_multiple_takes_distinct_listed_values_within_the_counts() {
    assert_ok("many", json!(["a"]));
    assert_ok("many", json!(["c", "a", "b"]));
    assert_problem("many", json!(["a", "x"]), "unknown_choice");
    let err = assert_problem("many", json!(["a", "b", "a"]), "duplicate_choice");
    assert_eq!(
        err.problem,
        FieldProblem::DuplicateChoice { value: "a".into() }
    );
    let err = assert_problem("many", json!([]), "too_few_choices");
    assert_eq!(err.problem, FieldProblem::TooFewChoices { min: 1, got: 0 });
    let err = assert_problem("many", json!(["a", "b", "c", "d"]), "too_many_choices");
    assert_eq!(err.problem, FieldProblem::TooManyChoices { max: 3, got: 4 });
    for bad in [
        json!("a"),
        json!([1]),
        json!(["a", null]),
        json!({"a": true}),
    ] {
        assert_problem("many", bad, "wrong_type");
    }
    // A required selection may not be empty: that answers nothing.
    assert_problem("checks", json!([]), "required");
    assert_ok("checks", json!(["x", "y"]));
}

#[test]
fn booleans_are_json_booleans() {
    assert_ok("flag", json!(true));
    assert_ok("flag", json!(false));
    for bad in [json!("true"), json!(1), json!(0), json!("yes"), json!([])] {
        assert_problem("flag", bad, "wrong_type");
    }
}

#[test]
fn dates_are_calendar_days_within_bounds() {
    for ok in ["2024-01-01", "2024-02-29", "2026-05-04", "2027-12-31"] {
        assert_ok("day", json!(ok));
    }
    for bad in [
        "2026-02-30",
        "2025-02-29",
        "2026-13-01",
        "2026-04-31",
        "26-05-04",
        "2026-5-4",
        "2026-05-04T10:00:00Z",
        "04.05.2026",
        "",
    ] {
        assert_problem("day", json!(bad), "bad_date");
    }
    for bad in [json!(20260504), json!(["2026-05-04"]), json!(true)] {
        assert_problem("day", bad, "wrong_type");
    }
    let err = assert_problem("day", json!("2023-12-31"), "out_of_range");
    assert_eq!(
        err.to_string(),
        r#"field "day": 2023-12-31 is below the minimum 2024-01-01"#
    );
    assert_problem("day", json!("2028-01-01"), "out_of_range");
    // Century rule of leap years.
    assert_ok("any_day", json!("2000-02-29"));
    assert_problem("any_day", json!("1900-02-29"), "bad_date");
}

#[test]
fn geopoints_are_objects_of_numbers_on_the_globe() {
    for ok in [
        json!({"lat": 41.2, "lon": 75.7}),
        json!({"lat": 41, "lon": 75, "acc": 4}),
        json!({"lat": 90, "lon": -180, "acc": 0, "alt": -20.5}),
        json!({"lat": -90, "lon": 180, "alt": 3100}),
    ] {
        assert_ok("spot", ok);
    }
    for bad in [
        json!({"lat": 41.2, "lon": 75.7, "altitude": 900}),
        json!({"lat": 41.2, "lon": 75.7, "acc": null}),
        json!({"lat": "41.2", "lon": 75.7}),
        json!({"lat": 41.2, "lon": [75.7]}),
        json!({"lat": 41.2}),
        json!({"lon": 75.7}),
        json!({}),
        json!("41.2,75.7"),
        json!([41.2, 75.7]),
        json!(41.2),
    ] {
        assert_problem("spot", bad, "bad_geopoint");
    }
    let err = assert_problem("spot", json!({"lat": 91, "lon": 75}), "out_of_range");
    assert_eq!(
        err.to_string(),
        r#"field "spot": lat 91 is above the maximum 90"#
    );
    assert_problem("spot", json!({"lat": -90.5, "lon": 75}), "out_of_range");
    assert_problem("spot", json!({"lat": 41, "lon": -181}), "out_of_range");
    assert_problem("spot", json!({"lat": 41, "lon": 180.01}), "out_of_range");
    assert_problem(
        "spot",
        json!({"lat": 41, "lon": 75, "acc": -1}),
        "out_of_range",
    );
}

#[test]
fn photos_are_canonical_record_ids() {
    assert_ok("picture", json!(PHOTO_ID));
    for bad in [
        json!(PHOTO_ID.to_uppercase()),
        json!(PHOTO_ID.replace('-', "")),
        json!(format!("{{{PHOTO_ID}}}")),
        json!(format!("urn:uuid:{PHOTO_ID}")),
        json!("photo_0001.jpg"),
        json!(""),
        json!(42),
        json!({"id": PHOTO_ID}),
    ] {
        assert_problem("picture", bad, "bad_photo_ref");
    }
}

#[test]
fn null_clears_optional_fields_only() {
    for optional in [
        "big", "ratio", "short", "one", "many", "flag", "day", "spot", "picture",
    ] {
        assert_ok(optional, json!(null));
    }
    assert_ok("gps", json!(null));
    let err = assert_problem("count", json!(null), "required");
    assert_eq!(
        err.to_string(),
        r#"field "count": a value is required, got null"#
    );
    assert_problem("checks", json!(null), "required");
    for envelope in ["facility", "captured_at"] {
        assert_problem(envelope, json!(null), "required");
    }
    let form = visit_form();
    assert_set_problem(
        &form,
        &with(visit_set(), "form", json!(null)),
        false,
        "form",
        "required",
    );
    assert_set_problem(
        &form,
        &with(visit_set(), "form_version", json!(null)),
        false,
        "form_version",
        "required",
    );
}

#[test]
fn required_fields_must_be_present_when_creating_only() {
    let form = visit_form();
    for key in ["facility", "captured_at", "count", "answer", "checks"] {
        let set = without(visit_set(), key);
        let err = assert_set_problem(&form, &set, true, key, "required");
        assert_eq!(err.problem, FieldProblem::Required { got: None });
        form.validate(&set, false).unwrap();
    }
    // Optional fields, including the envelope's gps, may be left out of a creating set.
    form.validate(&without(visit_set(), "gps"), true).unwrap();
    // form and form_version are needed on every set, not only when creating.
    for key in ["form", "form_version"] {
        assert_set_problem(&form, &without(visit_set(), key), false, key, "required");
    }
    // An update setting a single question needs nothing else.
    let update = object(json!({"form": "test_visit", "form_version": 2, "flag": true}));
    form.validate(&update, false).unwrap();
    // Missing required questions are reported in question order.
    let set = without(without(visit_set(), "checks"), "count");
    assert_set_problem(&form, &set, true, "count", "required");
}

#[test]
fn fields_outside_the_form_are_unknown() {
    let form = visit_form();
    let err = assert_set_problem(
        &form,
        &with(visit_set(), "colour", json!("blue")),
        true,
        "colour",
        "unknown_field",
    );
    assert_eq!(
        err.to_string(),
        r#"field "colour": not a question of test_visit version 2, nor an envelope field of visits"#
    );
    // The survey's envelope is not the visit's, and the other way round.
    assert_set_problem(
        &form,
        &with(visit_set(), "village", json!("V1")),
        true,
        "village",
        "unknown_field",
    );
    assert_set_problem(
        &survey_form(),
        &with(survey_set(), "facility", json!("F1")),
        true,
        "facility",
        "unknown_field",
    );
    assert_set_problem(
        &form,
        &with(visit_set(), "Count", json!(1)),
        true,
        "Count",
        "unknown_field",
    );
}

#[test]
fn a_set_for_another_form_or_version_is_a_mismatch() {
    let form = visit_form();
    let err = assert_set_problem(
        &form,
        &with(visit_set(), "form", json!("water_visit")),
        true,
        "form",
        "form_mismatch",
    );
    assert_eq!(
        err.problem,
        FieldProblem::FormMismatch {
            expected: "form test_visit".into(),
            got: "form water_visit".into()
        }
    );
    assert_eq!(
        err.to_string(),
        r#"field "form": the answer is for form water_visit, but was checked against form test_visit"#
    );
    assert_set_problem(
        &form,
        &with(visit_set(), "form_version", json!(3)),
        true,
        "form_version",
        "form_mismatch",
    );
    // Checked before anything else in the set.
    let set = with(
        with(visit_set(), "form_version", json!(1)),
        "count",
        json!(99),
    );
    assert_set_problem(&form, &set, true, "form_version", "form_mismatch");
}

#[test]
fn visit_envelope_is_checked() {
    let form = visit_form();
    let check = |key: &str, value: Value| form.validate(&with(visit_set(), key, value), true);
    check("facility", json!("ф".repeat(64))).unwrap();
    check("captured_at", json!("2026-05-04T04:22:00Z")).unwrap();
    check("captured_at", json!("2026-05-04T10:22:00.123+06:00")).unwrap();
    check("gps", json!({"lat": 41.2, "lon": 75.7, "acc": 6})).unwrap();
    let cases = [
        ("facility", json!(""), "required"),
        ("facility", json!("   "), "required"),
        ("facility", json!("ф".repeat(65)), "too_long"),
        ("facility", json!(17), "wrong_type"),
        ("facility", json!(["F1"]), "wrong_type"),
        ("captured_at", json!("2026-05-04T10:22:00"), "bad_date"),
        ("captured_at", json!("2026-05-04"), "bad_date"),
        (
            "captured_at",
            json!("2026-02-30T10:22:00+06:00"),
            "bad_date",
        ),
        (
            "captured_at",
            json!("2026-05-04T25:00:00+06:00"),
            "bad_date",
        ),
        ("captured_at", json!("yesterday"), "bad_date"),
        ("captured_at", json!(1777868520), "wrong_type"),
        ("gps", json!("41.2 75.7"), "bad_geopoint"),
        (
            "gps",
            json!({"lat": 41.2, "lon": 75.7, "speed": 3}),
            "bad_geopoint",
        ),
        ("gps", json!({"lat": 41.2, "lon": 275.7}), "out_of_range"),
    ];
    for (key, value, code) in cases {
        let err = check(key, value.clone()).expect_err(&format!("{key} = {value}"));
        assert_eq!((err.field.as_str(), err.code()), (key, code), "{err}");
    }
}

#[test]
fn survey_envelope_is_checked() {
    let form = survey_form();
    assert_set_problem(
        &form,
        &without(survey_set(), "village"),
        true,
        "village",
        "required",
    );
    assert_set_problem(
        &form,
        &without(survey_set(), "captured_at"),
        true,
        "captured_at",
        "required",
    );
    form.validate(&without(survey_set(), "village"), false)
        .unwrap();
    form.validate(
        &with(survey_set(), "gps", json!({"lat": 41.4, "lon": 75.9})),
        true,
    )
    .unwrap();
    let cases = [
        ("village", json!(null), "required"),
        ("village", json!("v".repeat(65)), "too_long"),
        ("village", json!(3), "wrong_type"),
        ("captured_at", json!("2026-10-12 09:00"), "bad_date"),
        ("gps", json!({"lat": 41.4}), "bad_geopoint"),
    ];
    for (key, value, code) in cases {
        assert_set_problem(&form, &with(survey_set(), key, value), true, key, code);
    }
}

#[test]
fn the_first_problem_is_found_in_a_fixed_order() {
    let form = visit_form();
    // Envelope first, even when a question's name sorts before it.
    let set = with(
        with(visit_set(), "captured_at", json!("now")),
        "answer",
        json!(1),
    );
    assert_set_problem(&form, &set, true, "captured_at", "bad_date");
    // Within the envelope, in the order of envelope_fields.
    let set = with(set, "facility", json!(1));
    assert_set_problem(&form, &set, true, "facility", "wrong_type");
    // Then the other fields by name, whatever the map order.
    let set = with(with(visit_set(), "zzz", json!(1)), "count", json!(99));
    assert_set_problem(&form, &set, true, "count", "out_of_range");
    let set = with(with(visit_set(), "aaa", json!(1)), "count", json!(99));
    assert_set_problem(&form, &set, true, "aaa", "unknown_field");
    // Missing required questions come last.
    let set = with(without(visit_set(), "answer"), "flag", json!("no"));
    assert_set_problem(&form, &set, true, "flag", "wrong_type");
}

#[test]
fn form_ref_is_read_from_the_set() {
    let set = visit_set();
    assert_eq!(
        FormRef::from_set(&set).unwrap(),
        FormRef {
            id: FormId::parse("test_visit").unwrap(),
            version: 2
        }
    );
    assert_eq!(visit_form().form_ref(), FormRef::from_set(&set).unwrap());
    let cases = [
        (without(set.clone(), "form"), "form", "required"),
        (with(set.clone(), "form", json!(null)), "form", "required"),
        (with(set.clone(), "form", json!(5)), "form", "wrong_type"),
        (
            with(set.clone(), "form", json!("Water Visit")),
            "form",
            "wrong_type",
        ),
        (with(set.clone(), "form", json!("")), "form", "wrong_type"),
        (
            without(set.clone(), "form_version"),
            "form_version",
            "required",
        ),
        (
            with(set.clone(), "form_version", json!("2")),
            "form_version",
            "wrong_type",
        ),
        (
            with(set.clone(), "form_version", json!(2.0)),
            "form_version",
            "wrong_type",
        ),
        (
            with(set.clone(), "form_version", json!(0)),
            "form_version",
            "out_of_range",
        ),
        (
            with(set.clone(), "form_version", json!(-2)),
            "form_version",
            "out_of_range",
        ),
        (
            with(set.clone(), "form_version", json!(1u64 << 32)),
            "form_version",
            "out_of_range",
        ),
    ];
    for (set, field, code) in cases {
        let err = FormRef::from_set(&set).expect_err(&format!("{set:?}"));
        assert_eq!((err.field.as_str(), err.code()), (field, code), "{err}");
    }
    // The form is read before the version.
    let err = FormRef::from_set(&Map::new()).unwrap_err();
    assert_eq!(err.field, "form");
}

#[test]
fn field_errors_serialise_for_a_reject_answer() {
    let err = set_one("count", json!(30)).unwrap_err();
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({
            "field": "count",
            "code": "out_of_range",
            "message": "field \"count\": 30 is above the maximum 24",
        })
    );
    assert_eq!(err.message(), err.to_string());
    assert_eq!(
        serde_json::to_value(&err.problem).unwrap(),
        json!("out_of_range")
    );
    let err = set_one("one", json!(7)).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"field "one": expected one choice value (a string), got 7"#
    );
    let err = set_one("picture", json!("x")).unwrap_err();
    assert!(err.to_string().contains(r#"got the string "x""#), "{err}");
}

#[test]
fn envelope_fields_are_fixed_per_collection() {
    assert_eq!(
        envelope_fields("visits"),
        ["form", "form_version", "facility", "captured_at", "gps"]
    );
    assert_eq!(
        envelope_fields("survey_responses"),
        ["form", "form_version", "village", "captured_at", "gps"]
    );
    assert!(envelope_fields("comments").is_empty());
    assert_eq!(FORM_COLLECTIONS, ["visits", "survey_responses"]);
}

#[test]
fn form_ids_are_plain_names() {
    assert_eq!(
        "water_visit".parse::<FormId>().unwrap().to_string(),
        "water_visit"
    );
    FormId::parse("resident_survey2").unwrap();
    for bad in [
        "",
        "Water",
        "2water",
        "water-visit",
        "water visit",
        &"a".repeat(65),
    ] {
        assert!(FormId::parse(bad).is_err(), "{bad:?}");
    }
    assert!(serde_json::from_value::<FormId>(json!("Bad")).is_err());
}

/// `at` of the check of the visit form after `edit` changed its JSON.
fn check_error(edit: impl FnOnce(&mut Value)) -> FormDefError {
    let mut def = visit_form_json();
    edit(&mut def);
    FormDef::from_json(&def.to_string()).expect_err("the edited form should be refused")
}

#[track_caller]
fn assert_check(at: &str, edit: impl FnOnce(&mut Value)) -> FormDefError {
    let err = check_error(edit);
    assert_eq!(err.at, at, "{err}");
    err
}

#[test]
fn definitions_are_checked() {
    let err = assert_check("questions[1].key", |d| {
        d["questions"][1]["key"] = json!("count")
    });
    assert_eq!(
        err.to_string(),
        r#"questions[1].key: "count" is already the key of questions[0]"#
    );
    assert_check("questions[0].min", |d| d["questions"][0]["min"] = json!(25));
    assert_check("questions[2].min", |d| {
        d["questions"][2]["min"] = json!(2.5)
    });
    assert_check("questions[10].min", |d| {
        d["questions"][10]["min"] = json!("2028-01-01")
    });
    assert_check("questions[10].max", |d| {
        d["questions"][10]["max"] = json!("2027-02-29")
    });
    assert_check("questions[6].choices", |d| {
        d["questions"][6]["choices"] = json!([])
    });
    assert_check("questions[6].choices[1].value", |d| {
        d["questions"][6]["choices"][1]["value"] = json!("a")
    });
    for bad in ["Yes", "", "a b", "ы", &"a".repeat(65)] {
        assert_check("questions[6].choices[2].value", |d| {
            d["questions"][6]["choices"][2]["value"] = json!(bad)
        });
    }
    assert_check("questions[6].choices[0].label.ru", |d| {
        d["questions"][6]["choices"][0]["label"]["ru"] = json!("")
    });
    for envelope in [
        "facility",
        "captured_at",
        "gps",
        "form",
        "form_version",
        "village",
    ] {
        let err = assert_check("questions[0].key", |d| {
            d["questions"][0]["key"] = json!(envelope)
        });
        assert!(err.problem.contains("envelope"), "{err}");
    }
    assert_check("questions[0].label.ky", |d| {
        d["questions"][0]["label"]["ky"] = json!("  ")
    });
    assert_check("questions[1].hint.en", |d| {
        d["questions"][1]["hint"] = json!({"ky": "a", "ru": "b", "en": ""})
    });
    assert_check("title.en", |d| d["title"]["en"] = json!(""));
    assert_check("version", |d| d["version"] = json!(0));
    assert_check("collection", |d| d["collection"] = json!("comments"));
    assert_check("questions", |d| d["questions"] = json!([]));
    assert_check("questions[3].max_length", |d| {
        d["questions"][3]["max_length"] = json!(0)
    });
    assert_check("questions[3].max_length", |d| {
        d["questions"][3]["max_length"] = json!(TEXT_MAX_CHARS + 1)
    });
    assert_check("questions[7].min_selected", |d| {
        d["questions"][7]["min_selected"] = json!(5)
    });
    assert_check("questions[7].max_selected", |d| {
        d["questions"][7]["max_selected"] = json!(5)
    });
    assert_check("questions[7].max_selected", |d| {
        d["questions"][7]["max_selected"] = json!(0)
    });
    assert_check("questions[7].min_selected", |d| {
        d["questions"][7]["min_selected"] = json!(3);
        d["questions"][7]["max_selected"] = json!(2);
    });
    assert_check("facility_kinds[1]", |d| {
        d["facility_kinds"] = json!(["water_point", "water_point"])
    });
    assert_check("facility_kinds[0]", |d| {
        d["facility_kinds"] = json!(["Water Point"])
    });
    assert_check("facility_kinds", |d| {
        d["collection"] = json!("survey_responses")
    });
}

#[test]
fn malformed_definitions_are_placed_by_line_and_column() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 11] = [
        ("unknown field `colour`", |d| d["colour"] = json!("red")),
        ("unknown field `maxlength`", |d| {
            d["questions"][3]["maxlength"] = json!(5)
        }),
        ("missing field `label`", |d| {
            d["questions"][0].as_object_mut().unwrap().remove("label");
        }),
        ("missing field `en`", |d| {
            d["title"].as_object_mut().unwrap().remove("en");
        }),
        ("unknown variant `number`", |d| {
            d["questions"][0]["type"] = json!("number")
        }),
        ("`max` does not apply to a question of type text", |d| {
            d["questions"][3]["max"] = json!(5)
        }),
        (
            "`choices` does not apply to a question of type boolean",
            |d| d["questions"][9]["choices"] = json!([]),
        ),
        ("must be a whole number, not 1.5", |d| {
            d["questions"][0]["min"] = json!(1.5)
        }),
        ("must be a date string YYYY-MM-DD, not 20240101", |d| {
            d["questions"][10]["min"] = json!(20240101)
        }),
        ("a select_one question needs `choices`", |d| {
            d["questions"][6].as_object_mut().unwrap().remove("choices");
        }),
        ("form id", |d| d["id"] = json!("Test Visit")),
    ];
    for (expected, edit) in cases {
        let mut def = visit_form_json();
        edit(&mut def);
        let text = serde_json::to_string_pretty(&def).unwrap();
        let err = FormDef::from_json(&text).expect_err(expected);
        assert!(err.at.starts_with("json line "), "{err}");
        assert!(err.problem.contains(expected), "{expected}: {err}");
        assert!(!err.problem.contains(" at line "), "{err}");
    }
    let err = FormDef::from_json("{\n  \"id\": ").unwrap_err();
    assert_eq!(err.at, "json line 2 column 8");
}

#[test]
fn definitions_keep_their_json_shape() {
    let form = visit_form();
    let back = serde_json::to_value(&form).unwrap();
    assert_eq!(FormDef::from_json(&back.to_string()).unwrap(), form);
    assert_eq!(back["questions"][2]["max"], json!(2.0));
    let question = json!({
        "key": "supply_hours", "type": "integer", "min": 0, "max": 24, "required": true,
        "label": {"ky": "Суу берүү сааттары", "ru": "Часы подачи воды", "en": "Hours of supply a day"},
    });
    let parsed: sync_protocol::Question = serde_json::from_value(question.clone()).unwrap();
    assert_eq!(
        parsed.kind,
        QuestionKind::Integer {
            min: Some(0),
            max: Some(24)
        }
    );
    assert!(parsed.required);
    assert_eq!(serde_json::to_value(&parsed).unwrap(), question);
    // `required` defaults to false and is left out when false.
    let optional = json!({"key": "ok", "type": "boolean", "label": labels("Ok")});
    let parsed: sync_protocol::Question = serde_json::from_value(optional.clone()).unwrap();
    assert!(!parsed.required);
    assert_eq!(serde_json::to_value(&parsed).unwrap(), optional);
}

fn fixture(name: &str) -> FormDef {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/demo/forms")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    FormDef::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn demo_forms_are_valid_and_accept_real_answers() {
    let water = fixture("water_visit.json");
    assert_eq!((water.id.as_str(), water.version), ("water_visit", 1));
    assert_eq!(water.facility_kinds, ["piped_water_system", "water_point"]);
    let answer = object(json!({
        "form": "water_visit",
        "form_version": 1,
        "facility": "KG-N-AB-01-F01",
        "captured_at": "2026-05-04T10:22:00+06:00",
        "gps": {"lat": 41.20181, "lon": 75.75702, "acc": 8},
        "supply_hours": 14,
        "water_clear": true,
        "households_served_share": 72,
        "access_road_ok": false,
        "problems": ["leak", "no_chlorination"],
        "photo": PHOTO_ID,
        "notes": "Түтүк көпүрөнүн жанында тешилген. Труба протекает у моста.",
    }));
    water.validate(&answer, true).unwrap();
    assert_set_problem(
        &water,
        &with(answer.clone(), "supply_hours", json!(25)),
        true,
        "supply_hours",
        "out_of_range",
    );
    assert_set_problem(
        &water,
        &without(answer, "water_clear"),
        true,
        "water_clear",
        "required",
    );

    let health = fixture("health_visit.json");
    assert_eq!((health.id.as_str(), health.version), ("health_visit", 1));
    assert_eq!(
        health.facility_kinds,
        ["health_post", "family_medicine_centre"]
    );
    let answer = object(json!({
        "form": "health_visit",
        "form_version": 1,
        "facility": "KG-N-AB-01-F04",
        "captured_at": "2026-05-04T11:05:00+06:00",
        "open": true,
        "staff_present": 2,
        "medicines": "partly",
        "wait_minutes": 35,
        "last_supply_date": "2026-04-20",
    }));
    health.validate(&answer, true).unwrap();
    assert_set_problem(
        &health,
        &with(answer, "medicines", json!("some")),
        true,
        "medicines",
        "unknown_choice",
    );

    let stable = [
        "sex",
        "age_band",
        "water_satisfied",
        "attended_meeting",
        "trust_lsg",
    ];
    for (file, version, year) in [
        ("resident_survey_2024.json", 1, 2024),
        ("resident_survey_2025.json", 2, 2025),
        ("resident_survey_2026.json", 3, 2026),
    ] {
        let survey = fixture(file);
        assert_eq!(survey.id.as_str(), "resident_survey");
        assert_eq!((survey.version, survey.year), (version, Some(year)));
        assert_eq!(survey.collection.as_str(), "survey_responses");
        let keys: Vec<&str> = survey.questions.iter().map(|q| q.key.as_str()).collect();
        assert_eq!(keys[..5], stable, "{file}");
        assert_eq!(keys.contains(&"health_satisfied"), version == 3, "{file}");
        // Anonymous: nothing that could name or reach the respondent.
        for key in &keys {
            assert!(!["name", "phone", "address"].iter().any(|w| key.contains(w)));
        }
        let mut answer = object(json!({
            "form": "resident_survey",
            "form_version": version,
            "village": "KG-N-AB-01-V2",
            "captured_at": format!("{year}-10-14T15:40:00+06:00"),
            "sex": "female",
            "age_band": "60+",
            "water_satisfied": "satisfied",
            "attended_meeting": false,
            "trust_lsg": "some_trust",
        }));
        survey.validate(&answer, true).unwrap();
        answer.insert("health_satisfied".into(), json!("neutral"));
        let result = survey.validate(&answer, true);
        if version == 3 {
            result.unwrap();
        } else {
            assert_eq!(result.unwrap_err().code(), "unknown_field", "{file}");
        }
    }
}
