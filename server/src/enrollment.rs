//! What an enrollment QR code holds: the server's address and the one-time code, as JSON, so the
//! phone needs nothing typed.

pub fn qr_payload(server_url: &str, code: &str) -> String {
    serde_json::json!({ "server": server_url, "code": code }).to_string()
}

/// The payload drawn as an SVG QR code, large enough to scan from a laptop screen.
pub fn qr_svg(payload: &str) -> Result<String, String> {
    Ok(qrcode::QrCode::new(payload.as_bytes())
        .map_err(|e| e.to_string())?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(320, 320)
        .build())
}
