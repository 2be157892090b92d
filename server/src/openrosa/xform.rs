//! A form definition as an ODK XForm, so that one definition serves the native app and ODK
//! Collect. The instance mirrors the record a submission becomes: the envelope first (facility
//! or village, position), then one element per question, then `meta/instanceID`. Labels are
//! itext translations in Kyrgyz, Russian and English; the facility (or village) is picked from
//! the municipality's list, a CSV media file of the form.

use std::fmt::Write;

use sync_protocol::form::{Choice, FormDef, Labels, Question, QuestionKind};

/// The languages of itext, as ODK names them: a display name with the code in brackets.
pub const LANGUAGES: [(&str, &str); 3] = [
    ("ky", "Kyrgyz (ky)"),
    ("ru", "Russian (ru)"),
    ("en", "English (en)"),
];

/// The root element of every instance, as pyxform names it by default.
pub const ROOT: &str = "data";

/// The media file a form's envelope list comes from, when it has one.
pub fn list_file(form: &FormDef) -> Option<&'static str> {
    match form.collection.as_str() {
        "visits" => Some("facilities.csv"),
        "survey_responses" => Some("villages.csv"),
        _ => None,
    }
}

/// The envelope field the list fills.
pub fn list_field(form: &FormDef) -> Option<&'static str> {
    match form.collection.as_str() {
        "visits" => Some("facility"),
        "survey_responses" => Some("village"),
        _ => None,
    }
}

/// Escapes text for an XML element or a double-quoted attribute (the map's SVG escaping, which
/// also drops the control characters XML forbids).
pub fn esc(text: &str) -> String {
    crate::web::map::escape(text)
}

fn label(labels: &Labels, lang: &str) -> String {
    match lang {
        "ky" => labels.ky.clone(),
        "ru" => labels.ru.clone(),
        _ => labels.en.clone(),
    }
}

/// Words the generated form needs beyond the definition's own labels.
fn fixed(word: &str) -> Labels {
    let (ky, ru, en) = match word {
        "yes" => ("Ооба", "Да", "Yes"),
        "no" => ("Жок", "Нет", "No"),
        "facility" => ("Объект", "Объект", "Facility"),
        "village" => ("Айыл", "Село", "Village"),
        "gps" => (
            "Жайгашкан жер (GPS)",
            "Местоположение (GPS)",
            "Location (GPS)",
        ),
        _ => (word, word, word),
    };
    Labels {
        ky: ky.into(),
        ru: ru.into(),
        en: en.into(),
    }
}

/// One itext entry: its id and the text in each language.
struct Text {
    id: String,
    labels: Labels,
}

/// The XForm of a form definition. `has_list` says whether the envelope's list (facilities or
/// villages) is offered as a media file; without it the code is typed.
pub fn xform(form: &FormDef, has_list: bool) -> String {
    let mut texts: Vec<Text> = Vec::new();
    let mut instance = String::new();
    let mut binds = String::new();
    let mut body = String::new();
    let path = |key: &str| format!("/{ROOT}/{key}");

    if let Some(field) = list_field(form) {
        let p = path(field);
        let _ = write!(instance, "<{field}/>");
        let _ = write!(
            binds,
            r#"<bind nodeset="{p}" type="string" required="true()"/>"#
        );
        texts.push(Text {
            id: format!("{p}:label"),
            labels: fixed(field),
        });
        if has_list {
            let file = list_file(form).unwrap_or_default();
            let instance_id = file.trim_end_matches(".csv");
            let _ = write!(
                body,
                r#"<select1 ref="{p}"><label ref="jr:itext('{p}:label')"/><itemset nodeset="instance('{instance_id}')/root/item"><value ref="name"/><label ref="label"/></itemset></select1>"#
            );
        } else {
            let _ = write!(
                body,
                r#"<input ref="{p}"><label ref="jr:itext('{p}:label')"/></input>"#
            );
        }
    }
    // When the form was opened: the record's capture time.
    let _ = write!(instance, "<captured_at/>");
    let _ = write!(
        binds,
        r#"<bind nodeset="{}" type="dateTime" jr:preload="timestamp" jr:preloadParams="start"/>"#,
        path("captured_at")
    );
    {
        let p = path("gps");
        let _ = write!(instance, "<gps/>");
        let _ = write!(binds, r#"<bind nodeset="{p}" type="geopoint"/>"#);
        texts.push(Text {
            id: format!("{p}:label"),
            labels: fixed("gps"),
        });
        let _ = write!(
            body,
            r#"<input ref="{p}"><label ref="jr:itext('{p}:label')"/></input>"#
        );
    }
    for q in &form.questions {
        question(
            q,
            &path(q.key.as_str()),
            &mut instance,
            &mut binds,
            &mut body,
            &mut texts,
        );
    }
    let _ = write!(instance, "<meta><instanceID/><deprecatedID/></meta>");
    let _ = write!(
        binds,
        r#"<bind nodeset="/{ROOT}/meta/instanceID" type="string" readonly="true()" jr:preload="uid"/>"#
    );

    let mut out = String::with_capacity(4096);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str(
        r#"<h:html xmlns="http://www.w3.org/2002/xforms" xmlns:h="http://www.w3.org/1999/xhtml" xmlns:ev="http://www.w3.org/2001/xml-events" xmlns:jr="http://openrosa.org/javarosa" xmlns:odk="http://www.opendatakit.org/xforms" xmlns:orx="http://openrosa.org/xforms" xmlns:xsd="http://www.w3.org/2001/XMLSchema">"#,
    );
    let _ = write!(
        out,
        "<h:head><h:title>{}</h:title><model odk:xforms-version=\"1.0.0\"><itext>",
        esc(&form.title.en)
    );
    for (i, (code, name)) in LANGUAGES.iter().enumerate() {
        let default = if i == 0 { r#" default="true()""# } else { "" };
        let _ = write!(out, r#"<translation lang="{name}"{default}>"#);
        for t in &texts {
            let _ = write!(
                out,
                r#"<text id="{}"><value>{}</value></text>"#,
                esc(&t.id),
                esc(&label(&t.labels, code))
            );
        }
        out.push_str("</translation>");
    }
    out.push_str("</itext>");
    let _ = write!(
        out,
        r#"<instance><{ROOT} id="{}" version="{}">{instance}</{ROOT}></instance>"#,
        esc(form.id.as_str()),
        form.version
    );
    if has_list && let Some(file) = list_file(form) {
        let _ = write!(
            out,
            r#"<instance id="{}" src="jr://file-csv/{file}"/>"#,
            file.trim_end_matches(".csv")
        );
    }
    out.push_str(&binds);
    out.push_str("</model></h:head><h:body>");
    out.push_str(&body);
    out.push_str("</h:body></h:html>");
    out
}

fn question(
    q: &Question,
    p: &str,
    instance: &mut String,
    binds: &mut String,
    body: &mut String,
    texts: &mut Vec<Text>,
) {
    let key = q.key.as_str();
    let _ = write!(instance, "<{key}/>");
    texts.push(Text {
        id: format!("{p}:label"),
        labels: q.label.clone(),
    });
    let hint = q.hint.as_ref().map(|h| {
        texts.push(Text {
            id: format!("{p}:hint"),
            labels: h.clone(),
        });
        format!(r#"<hint ref="jr:itext('{p}:hint')"/>"#)
    });
    let head = format!(
        r#"<label ref="jr:itext('{p}:label')"/>{}"#,
        hint.unwrap_or_default()
    );
    let (kind, constraint, control) = match &q.kind {
        QuestionKind::Integer { min, max } => (
            "int",
            bounds(
                min.map(|v| v.to_string()),
                max.map(|v| v.to_string()),
                false,
            ),
            format!(r#"<input ref="{p}">{head}</input>"#),
        ),
        QuestionKind::Decimal { min, max } => (
            "decimal",
            bounds(
                min.map(|v| v.to_string()),
                max.map(|v| v.to_string()),
                false,
            ),
            format!(r#"<input ref="{p}">{head}</input>"#),
        ),
        QuestionKind::Text { max_length } => (
            "string",
            max_length.map(|m| format!("string-length(.) <= {m}")),
            format!(r#"<input ref="{p}">{head}</input>"#),
        ),
        QuestionKind::Date { min, max } => (
            "date",
            bounds(
                min.as_ref().map(|d| format!("date('{d}')")),
                max.as_ref().map(|d| format!("date('{d}')")),
                false,
            ),
            format!(r#"<input ref="{p}">{head}</input>"#),
        ),
        QuestionKind::Geopoint => (
            "geopoint",
            None,
            format!(r#"<input ref="{p}">{head}</input>"#),
        ),
        QuestionKind::Photo => (
            "binary",
            None,
            format!(r#"<upload ref="{p}" mediatype="image/*">{head}</upload>"#),
        ),
        QuestionKind::Boolean => {
            // `yes`/`no`, as an XLSForm's yes/no list has them.
            let items: String = ["yes", "no"]
                .iter()
                .map(|v| {
                    let id = format!("{p}/{v}:label");
                    texts.push(Text {
                        id: id.clone(),
                        labels: fixed(v),
                    });
                    format!(r#"<item><label ref="jr:itext('{id}')"/><value>{v}</value></item>"#)
                })
                .collect();
            (
                "string",
                None,
                format!(r#"<select1 ref="{p}">{head}{items}</select1>"#),
            )
        }
        QuestionKind::SelectOne { choices } => (
            "string",
            None,
            format!(
                r#"<select1 ref="{p}">{head}{}</select1>"#,
                items(p, choices, texts)
            ),
        ),
        QuestionKind::SelectMultiple {
            choices,
            min_selected,
            max_selected,
        } => (
            "string",
            bounds(
                min_selected.map(|v| v.to_string()),
                max_selected.map(|v| v.to_string()),
                true,
            ),
            format!(
                r#"<select ref="{p}">{head}{}</select>"#,
                items(p, choices, texts)
            ),
        ),
    };
    let required = if q.required {
        r#" required="true()""#
    } else {
        ""
    };
    let constraint = constraint
        .map(|c| format!(r#" constraint="{}""#, esc(&c)))
        .unwrap_or_default();
    let _ = write!(
        binds,
        r#"<bind nodeset="{p}" type="{kind}"{required}{constraint}/>"#
    );
    body.push_str(&control);
}

fn items(p: &str, choices: &[Choice], texts: &mut Vec<Text>) -> String {
    choices
        .iter()
        .map(|c| {
            let id = format!("{p}/{}:label", c.value);
            texts.push(Text {
                id: id.clone(),
                labels: c.label.clone(),
            });
            format!(
                r#"<item><label ref="jr:itext('{}')"/><value>{}</value></item>"#,
                esc(&id),
                esc(&c.value)
            )
        })
        .collect()
}

/// An XPath constraint keeping an answer (or, for a multiple choice, the count of its choices)
/// within bounds.
fn bounds(min: Option<String>, max: Option<String>, count: bool) -> Option<String> {
    let subject = if count { "count-selected(.)" } else { "." };
    match (min, max) {
        (None, None) => None,
        (Some(lo), None) => Some(format!("{subject} >= {lo}")),
        (None, Some(hi)) => Some(format!("{subject} <= {hi}")),
        (Some(lo), Some(hi)) => Some(format!("{subject} >= {lo} and {subject} <= {hi}")),
    }
}
