//! The document classes the generator knows, with their folder names.

use std::fmt;
use std::str::FromStr;

use crate::SynthError;

/// A document class: the label of the classification task and the choice of layout family.
///
/// The names (`as_str`) are the ImageFolder directory names, so they are stable API.
/// Serialised as its folder name (`customs_declaration`), like everywhere else.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DocClass {
    /// Header/logo, addresses, line-item table, totals, payment details.
    Invoice,
    /// Boxed grid of numbered fields, HS codes, signatures and stamps.
    CustomsDeclaration,
    /// Report/article page: headings, paragraphs, lists, figures, tables.
    GenericDocument,
    /// Narrow till receipt in a monospace font: items, total, barcode.
    Receipt,
    /// Business letter: letterhead, address block, date, body, signature.
    Letter,
    /// Fill-in form: labelled fields, handwriting, checkboxes, section bars.
    Form,
}

impl DocClass {
    /// Every class, in label order.
    pub const ALL: [DocClass; 6] = [
        DocClass::Invoice,
        DocClass::CustomsDeclaration,
        DocClass::GenericDocument,
        DocClass::Receipt,
        DocClass::Letter,
        DocClass::Form,
    ];

    /// The five classes named in the task; `Form` is an optional extra.
    pub const CORE: [DocClass; 5] = [
        DocClass::Invoice,
        DocClass::CustomsDeclaration,
        DocClass::GenericDocument,
        DocClass::Receipt,
        DocClass::Letter,
    ];

    /// Folder / label name, e.g. `customs_declaration`.
    pub fn as_str(self) -> &'static str {
        match self {
            DocClass::Invoice => "invoice",
            DocClass::CustomsDeclaration => "customs_declaration",
            DocClass::GenericDocument => "generic_document",
            DocClass::Receipt => "receipt",
            DocClass::Letter => "letter",
            DocClass::Form => "form",
        }
    }

    /// A small stable number mixed into the page seed, so that the same seed gives
    /// unrelated random streams for different classes.
    pub(crate) fn salt(self) -> u64 {
        match self {
            DocClass::Invoice => 0x1111,
            DocClass::CustomsDeclaration => 0x2222,
            DocClass::GenericDocument => 0x3333,
            DocClass::Receipt => 0x4444,
            DocClass::Letter => 0x5555,
            DocClass::Form => 0x6666,
        }
    }
}

impl fmt::Display for DocClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocClass {
    type Err = SynthError;

    /// Accepts the folder names plus a few spellings a CLI user would type (`customs`, `generic`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        let class = match norm.as_str() {
            "invoice" => DocClass::Invoice,
            "customs_declaration" | "customs" => DocClass::CustomsDeclaration,
            "generic_document" | "generic" => DocClass::GenericDocument,
            "receipt" => DocClass::Receipt,
            "letter" => DocClass::Letter,
            "form" => DocClass::Form,
            _ => {
                let names: Vec<&str> = DocClass::ALL.iter().map(|c| c.as_str()).collect();
                return Err(SynthError::UnknownClass(s.to_string(), names.join(", ")));
            }
        };
        Ok(class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in DocClass::ALL {
            assert_eq!(c.as_str().parse::<DocClass>().ok(), Some(c));
        }
        assert_eq!(
            "customs".parse::<DocClass>().ok(),
            Some(DocClass::CustomsDeclaration)
        );
        assert!("banana".parse::<DocClass>().is_err());
    }
}
