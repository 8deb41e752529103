//! The pairing QR code and its renderings.
//!
//! whatsapp-rust hands us the raw QR payload; users need to see it as a PNG
//! (saved or embedded as a data URL in an HTML page), an SVG, or blocks in a
//! terminal. Renderings are computed on demand from the payload: a QR lives
//! 20–60 seconds and most callers want only one of them.

use std::time::SystemTime;

use base64::Engine;
use qrcode::{Color, EcLevel, QrCode as Matrix};

use crate::error::{Error, Result};

/// Pixels per QR module in the PNG rendering: 6 px gives a ~400 px image for
/// WhatsApp's payload, easily scanned from a laptop screen.
const PNG_SCALE: usize = 6;
/// Quiet zone around the code, in modules (the QR spec asks for 4).
const QUIET_ZONE: usize = 4;

/// One pairing QR code, valid until [`QrCode::expires_at`].
#[derive(Clone, PartialEq, Eq)]
pub struct QrCode {
    raw: String,
    expires_at: SystemTime,
}

impl std::fmt::Debug for QrCode {
    // The payload carries the session's public keys and the ADV secret; keep it
    // out of debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrCode")
            .field("raw", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl QrCode {
    /// Wraps a raw payload from whatsapp-rust.
    pub(crate) fn new(raw: String, expires_at: SystemTime) -> Self {
        QrCode { raw, expires_at }
    }

    /// The raw payload (`ref,noise_pub,identity_pub,adv_secret,client_type`) to
    /// feed into any QR encoder.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// When WhatsApp stops accepting this code; a new one replaces it.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    fn matrix(&self) -> Result<Matrix> {
        Matrix::with_error_correction_level(self.raw.as_bytes(), EcLevel::L)
            .map_err(|e| Error::InvalidArgument(format!("QR payload cannot be encoded: {e}")))
    }

    /// A black-on-white PNG image (8-bit grayscale).
    pub fn png(&self) -> Result<Vec<u8>> {
        let matrix = self.matrix()?;
        let modules = matrix.width();
        let colors = matrix.to_colors();
        let side = (modules + 2 * QUIET_ZONE) * PNG_SCALE;
        let mut pixels = vec![0xFFu8; side * side];
        for (i, color) in colors.iter().enumerate() {
            if *color != Color::Dark {
                continue;
            }
            let (mx, my) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
            for dy in 0..PNG_SCALE {
                let row = (my * PNG_SCALE + dy) * side;
                let start = row + mx * PNG_SCALE;
                pixels[start..start + PNG_SCALE].fill(0);
            }
        }
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| Error::InvalidArgument(format!("PNG encoding failed: {e}")))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| Error::InvalidArgument(format!("PNG encoding failed: {e}")))?;
        writer
            .finish()
            .map_err(|e| Error::InvalidArgument(format!("PNG encoding failed: {e}")))?;
        Ok(out)
    }

    /// The PNG as a `data:image/png;base64,…` URL, ready for an `<img src>`.
    pub fn png_data_url(&self) -> Result<String> {
        let png = self.png()?;
        Ok(format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        ))
    }

    /// An SVG document.
    pub fn svg(&self) -> Result<String> {
        Ok(self
            .matrix()?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build())
    }

    /// Unicode half blocks for a terminal: two QR rows per text line, dark
    /// modules drawn light-on-dark so phones read it on dark terminals too.
    pub fn terminal(&self) -> Result<String> {
        Ok(self
            .matrix()?
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> QrCode {
        QrCode::new(
            "2@abc,BASE64NOISE=,BASE64IDENTITY=,BASE64ADV=,9".into(),
            SystemTime::now() + Duration::from_secs(60),
        )
    }

    #[test]
    fn png_is_a_png_of_the_expected_size() {
        let png = sample().png().unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert_eq!(info.width as usize % PNG_SCALE, 0);
    }

    #[test]
    fn data_url_svg_and_terminal_renderings() {
        let qr = sample();
        assert!(
            qr.png_data_url()
                .unwrap()
                .starts_with("data:image/png;base64,iVBOR")
        );
        let svg = qr.svg().unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        let term = qr.terminal().unwrap();
        assert!(term.lines().count() > 10);
        assert!(term.contains('█') || term.contains('▀') || term.contains('▄'));
        assert!(
            !format!("{qr:?}").contains("abc"),
            "debug output must not show the payload"
        );
    }
}
