//! The settings QR code ODK Collect and KoboCollect import ("Configure with QR code"): JSON of
//! `general`, `admin` and `project` settings, zlib-compressed, then Base64. The server URL
//! carries the device's token, so the member never types a password.

use std::io::Write;

use base64::Engine;
use serde_json::{Value, json};

/// The settings for a phone: the server URL with the token in its path, and a project named for
/// the municipality.
pub fn settings(origin: &str, token: &str, project: &str) -> Value {
    json!({
        "general": {
            "server_url": format!("{}/openrosa/key/{token}", origin.trim_end_matches('/')),
            "username": "",
            "password": "",
            "form_update_mode": "match_exactly",
            "autosend": "wifi_and_cellular",
            "delete_send": false,
        },
        "admin": {
            "change_server": false,
        },
        "project": {
            "name": project,
            "icon": "J",
            "color": "#1f6f43",
        },
    })
}

/// The QR code's text: the settings' JSON, zlib-compressed, in Base64.
pub fn encode(settings: &Value) -> std::io::Result<String> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(settings.to_string().as_bytes())?;
    let bytes = z.finish()?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The settings back from a QR code's text, as the apps read it.
pub fn decode(text: &str) -> Option<Value> {
    use std::io::Read;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    let mut json = String::new();
    flate2::read::ZlibDecoder::new(bytes.as_slice())
        .read_to_string(&mut json)
        .ok()?;
    serde_json::from_str(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_the_apps_read_it() {
        let s = settings("https://jmet.example.kg/", "jmetd_abc", "KG-N-AB-01");
        let text = encode(&s).unwrap();
        let back = decode(&text).unwrap();
        assert_eq!(
            back["general"]["server_url"],
            "https://jmet.example.kg/openrosa/key/jmetd_abc"
        );
        assert_eq!(back, s);
    }
}
