//! The embedded fonts (see `assets/fonts/` for the files and their licences).
//!
//! Fonts are compiled in with `include_bytes!` so that a generated corpus depends on the
//! crate version only, never on what happens to be installed on the machine.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef};

use crate::SynthError;

/// One embedded font file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Face {
    LiberationSans,
    LiberationSansBold,
    LiberationSerif,
    LiberationSerifBold,
    LiberationMono,
    DejaVuSans,
    DejaVuSansMono,
    DancingScript,
    Breip,
}

impl Face {
    const ALL: [Face; 9] = [
        Face::LiberationSans,
        Face::LiberationSansBold,
        Face::LiberationSerif,
        Face::LiberationSerifBold,
        Face::LiberationMono,
        Face::DejaVuSans,
        Face::DejaVuSansMono,
        Face::DancingScript,
        Face::Breip,
    ];

    fn name(self) -> &'static str {
        match self {
            Face::LiberationSans => "LiberationSans-Regular.ttf",
            Face::LiberationSansBold => "LiberationSans-Bold.ttf",
            Face::LiberationSerif => "LiberationSerif-Regular.ttf",
            Face::LiberationSerifBold => "LiberationSerif-Bold.ttf",
            Face::LiberationMono => "LiberationMono-Regular.ttf",
            Face::DejaVuSans => "DejaVuSans.ttf",
            Face::DejaVuSansMono => "DejaVuSansMono.ttf",
            Face::DancingScript => "DancingScript-Regular.otf",
            Face::Breip => "Breip.ttf",
        }
    }

    fn bytes(self) -> &'static [u8] {
        macro_rules! font {
            ($file:literal) => {
                include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../assets/fonts/",
                    $file
                ))
            };
        }
        match self {
            Face::LiberationSans => font!("LiberationSans-Regular.ttf"),
            Face::LiberationSansBold => font!("LiberationSans-Bold.ttf"),
            Face::LiberationSerif => font!("LiberationSerif-Regular.ttf"),
            Face::LiberationSerifBold => font!("LiberationSerif-Bold.ttf"),
            Face::LiberationMono => font!("LiberationMono-Regular.ttf"),
            Face::DejaVuSans => font!("DejaVuSans.ttf"),
            Face::DejaVuSansMono => font!("DejaVuSansMono.ttf"),
            Face::DancingScript => font!("DancingScript-Regular.otf"),
            Face::Breip => font!("Breip.ttf"),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A type family as a layout thinks of it: a regular face and how to get bold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Sans,
    Serif,
    DejaVu,
    Mono,
    DejaVuMono,
    Script,
    Hand,
}

impl Family {
    /// Families for body text of office documents.
    pub const BODY: [Family; 3] = [Family::Sans, Family::Serif, Family::DejaVu];
    /// Families a till printer or a form field would use.
    pub const MONO: [Family; 2] = [Family::Mono, Family::DejaVuMono];
    /// Handwriting-like families for signatures and filled-in fields.
    pub const HAND: [Family; 2] = [Family::Script, Family::Hand];

    /// The face to draw with and whether bold must be faked by over-striking
    /// (families without a shipped bold face, to keep the font payload small).
    pub fn face(self, bold: bool) -> (Face, bool) {
        match (self, bold) {
            (Family::Sans, false) => (Face::LiberationSans, false),
            (Family::Sans, true) => (Face::LiberationSansBold, false),
            (Family::Serif, false) => (Face::LiberationSerif, false),
            (Family::Serif, true) => (Face::LiberationSerifBold, false),
            (Family::DejaVu, b) => (Face::DejaVuSans, b),
            (Family::Mono, b) => (Face::LiberationMono, b),
            (Family::DejaVuMono, b) => (Face::DejaVuSansMono, b),
            (Family::Script, b) => (Face::DancingScript, b),
            (Family::Hand, b) => (Face::Breip, b),
        }
    }
}

/// All parsed fonts, created once per process.
pub struct Fonts {
    faces: Vec<FontRef<'static>>,
}

impl Fonts {
    /// The parsed font for a face.
    pub fn get(&self, face: Face) -> &FontRef<'static> {
        // `faces` is built from `Face::ALL` in index order, so the index is always valid.
        &self.faces[face.index()]
    }

    /// The fallback used for characters a face lacks (handwriting fonts have few symbols).
    pub fn fallback(&self) -> &FontRef<'static> {
        self.get(Face::DejaVuSans)
    }
}

static FONTS: OnceLock<Result<Fonts, (&'static str, String)>> = OnceLock::new();

/// Parses the embedded fonts on first use and returns them.
pub fn fonts() -> Result<&'static Fonts, SynthError> {
    let parsed = FONTS.get_or_init(|| {
        let mut faces = Vec::with_capacity(Face::ALL.len());
        for face in Face::ALL {
            let font =
                FontRef::try_from_slice(face.bytes()).map_err(|e| (face.name(), e.to_string()))?;
            // A font without units per em cannot be scaled; catch it here, once.
            if font.units_per_em().is_none() {
                return Err((face.name(), "no units per em".to_string()));
            }
            faces.push(font);
        }
        Ok(Fonts { faces })
    });
    match parsed {
        Ok(f) => Ok(f),
        Err((name, message)) => Err(SynthError::Font {
            name,
            message: message.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_fonts_parse_and_have_latin_glyphs() {
        let fonts = fonts().expect("embedded fonts parse");
        for face in Face::ALL {
            let f = fonts.get(face);
            for c in ['A', 'z', '0', '9', '.', ','] {
                assert_ne!(f.glyph_id(c).0, 0, "{face:?} lacks {c:?}");
            }
        }
    }
}
