//! A submitted XForm instance, read without a DTD: a document that declares one is refused
//! before anything is expanded, so an entity bomb costs nothing. What is kept is the form it
//! answers (the root's `id` and `version`), `meta/instanceID` and `meta/deprecatedID`, and the
//! text of every leaf element by its name. Groups are looked through: a form authored in XLSForm
//! with groups submits its answers nested, and the answer's name is what counts.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::Event;

/// Deeper than any form nests its groups; a deeper document is an attack, not a survey.
const MAX_DEPTH: usize = 32;
/// More answers than any form has.
const MAX_LEAVES: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub form_id: String,
    pub version: Option<String>,
    pub instance_id: String,
    pub deprecated_id: Option<String>,
    /// Leaf elements outside `meta`, by name, with their text (trimmed; empty means unanswered).
    pub answers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InstanceError {
    #[error("the submission is not well-formed XML: {0}")]
    Malformed(String),
    #[error("the submission declares a DTD; DTDs and custom entities are refused")]
    Dtd,
    #[error("the submission nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("the submission has more than {MAX_LEAVES} answers")]
    TooMany,
    #[error("the submission's root element has no form id attribute")]
    NoFormId,
    #[error("the submission has no meta/instanceID")]
    NoInstanceId,
    #[error("the submission's {0} is longer than {MAX_ID} characters")]
    IdTooLong(&'static str),
}

/// Longest instanceID, deprecatedID or form id taken. Collect's are `uuid:` and a UUID, 41
/// characters; these are keys, and nothing longer is a real one.
const MAX_ID: usize = 200;

pub fn parse(xml: &[u8]) -> Result<Instance, InstanceError> {
    let text = std::str::from_utf8(xml)
        .map_err(|e| InstanceError::Malformed(format!("not UTF-8: {e}")))?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut form_id = None;
    let mut version = None;
    let mut buffer = String::new();
    let mut had_child = false;
    let mut answers = BTreeMap::new();
    let mut meta: BTreeMap<String, String> = BTreeMap::new();
    let malformed = |e: &dyn std::fmt::Display| InstanceError::Malformed(e.to_string());
    let mut seen_root = false;
    loop {
        let event = reader.read_event().map_err(|e| malformed(&e))?;
        match event {
            Event::DocType(_) => return Err(InstanceError::Dtd),
            Event::Start(ref start) | Event::Empty(ref start) => {
                let empty = matches!(event, Event::Empty(_));
                let name = start.local_name().as_ref().to_owned();
                if path.is_empty() {
                    if seen_root {
                        return Err(InstanceError::Malformed(
                            "more than one root element".into(),
                        ));
                    }
                    seen_root = true;
                    for attribute in start.attributes() {
                        let attribute = attribute.map_err(|e| malformed(&e))?;
                        let value = attribute
                            .normalized_value(XmlVersion::Implicit1_0)
                            .map_err(|_| InstanceError::Dtd)?
                            .into_owned();
                        match attribute.key.local_name().as_ref() {
                            "id" => form_id = Some(value),
                            "version" => version = Some(value),
                            _ => {}
                        }
                    }
                }
                if path.len() >= MAX_DEPTH {
                    return Err(InstanceError::TooDeep);
                }
                path.push(name);
                buffer.clear();
                had_child = false;
                if empty {
                    leaf(&path, "", &mut answers, &mut meta)?;
                    path.pop();
                    had_child = true;
                }
            }
            Event::End(_) => {
                if !had_child && path.len() > 1 {
                    leaf(&path, buffer.trim(), &mut answers, &mut meta)?;
                }
                path.pop();
                buffer.clear();
                had_child = true;
            }
            Event::Text(t) => buffer.push_str(&t.xml_content(XmlVersion::Implicit1_0)),
            Event::CData(t) => buffer.push_str(&t.xml_content(XmlVersion::Implicit1_0)),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().map_err(|e| malformed(&e))? {
                    buffer.push(c);
                } else {
                    let name = r.xml_content(XmlVersion::Implicit1_0);
                    let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or(InstanceError::Dtd)?;
                    buffer.push_str(resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !path.is_empty() || !seen_root {
        return Err(InstanceError::Malformed(
            "the document ends inside an element".into(),
        ));
    }
    let form_id = form_id
        .filter(|f| !f.is_empty())
        .ok_or(InstanceError::NoFormId)?;
    let instance_id = meta
        .remove("instanceID")
        .filter(|i| !i.is_empty())
        .ok_or(InstanceError::NoInstanceId)?;
    let deprecated_id = meta.remove("deprecatedID").filter(|d| !d.is_empty());
    for (name, id) in [
        ("form id", Some(&form_id)),
        ("instanceID", Some(&instance_id)),
        ("deprecatedID", deprecated_id.as_ref()),
    ] {
        if id.is_some_and(|id| id.chars().count() > MAX_ID) {
            return Err(InstanceError::IdTooLong(name));
        }
    }
    Ok(Instance {
        form_id,
        version,
        instance_id,
        deprecated_id,
        answers,
    })
}

fn leaf(
    path: &[String],
    text: &str,
    answers: &mut BTreeMap<String, String>,
    meta: &mut BTreeMap<String, String>,
) -> Result<(), InstanceError> {
    let Some(name) = path.last() else {
        return Ok(());
    };
    if path.len() < 2 {
        return Ok(());
    }
    if path.iter().skip(1).any(|p| p == "meta") {
        meta.insert(name.clone(), text.to_owned());
        return Ok(());
    }
    if answers.len() >= MAX_LEAVES {
        return Err(InstanceError::TooMany);
    }
    answers.insert(name.clone(), text.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_answers_through_groups_and_meta() {
        let xml = br#"<?xml version="1.0"?>
<data xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" id="water_visit" version="3">
  <facility>F-1</facility>
  <grp><supply_hours>12</supply_hours><note>A &amp; B &#x41;<![CDATA[<x>]]></note></grp>
  <photo/>
  <orx:meta><orx:instanceID>uuid:abc</orx:instanceID><orx:deprecatedID/></orx:meta>
</data>"#;
        let i = parse(xml).unwrap();
        assert_eq!(i.form_id, "water_visit");
        assert_eq!(i.version.as_deref(), Some("3"));
        assert_eq!(i.instance_id, "uuid:abc");
        assert_eq!(i.deprecated_id, None);
        assert_eq!(i.answers["facility"], "F-1");
        assert_eq!(i.answers["supply_hours"], "12");
        assert_eq!(i.answers["note"], "A & B A<x>");
        assert_eq!(i.answers["photo"], "");
        assert!(!i.answers.contains_key("grp"));
    }

    #[test]
    fn hostile_documents_are_refused() {
        let bomb = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<data id="f"><a>&lol2;</a><meta><instanceID>uuid:1</instanceID></meta></data>"#;
        assert_eq!(parse(bomb), Err(InstanceError::Dtd));
        let undeclared =
            br#"<data id="f"><a>&lol;</a><meta><instanceID>x</instanceID></meta></data>"#;
        assert_eq!(parse(undeclared), Err(InstanceError::Dtd));
        assert!(matches!(
            parse(b"<data id=\"f\"><a></b></data>"),
            Err(InstanceError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"<data id=\"f\"><a>"),
            Err(InstanceError::Malformed(_))
        ));
        assert_eq!(
            parse(b"<data><meta><instanceID>x</instanceID></meta></data>"),
            Err(InstanceError::NoFormId)
        );
        assert_eq!(
            parse(b"<data id=\"f\"><a>1</a></data>"),
            Err(InstanceError::NoInstanceId)
        );
        let deep = format!(
            "<data id=\"f\">{}{}</data>",
            "<g>".repeat(40),
            "</g>".repeat(40)
        );
        assert_eq!(parse(deep.as_bytes()), Err(InstanceError::TooDeep));
        let long = |id: &str, deprecated: &str| {
            format!(
                "<data id=\"f\"><meta><instanceID>{id}</instanceID>\
                 <deprecatedID>{deprecated}</deprecatedID></meta></data>"
            )
        };
        let uuid = "uuid:0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";
        assert!(parse(long(uuid, uuid).as_bytes()).is_ok());
        assert!(parse(long(&"я".repeat(MAX_ID), uuid).as_bytes()).is_ok());
        assert_eq!(
            parse(long(&"a".repeat(MAX_ID + 1), uuid).as_bytes()),
            Err(InstanceError::IdTooLong("instanceID"))
        );
        assert_eq!(
            parse(long(uuid, &"a".repeat(5000)).as_bytes()),
            Err(InstanceError::IdTooLong("deprecatedID"))
        );
    }
}
