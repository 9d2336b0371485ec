//! One layout family per class, each with several templates and random parameters.
//!
//! Layouts draw in points on a physical page size, so they decide paper, margins, fonts,
//! sizes, column and row counts, alignment, and which shared elements to use.

mod common;
mod customs;
mod form;
mod generic;
mod invoice;
mod letter;
mod receipt;

use rand::Rng;

use crate::painter::Painter;
use crate::DocClass;

/// A4 in points.
pub const A4: (f32, f32) = (595.0, 842.0);
/// US Letter in points.
pub const LETTER: (f32, f32) = (612.0, 792.0);

/// Picks the paper for a class: office documents on A4 or Letter, receipts on a till
/// roll of 58 or 80 mm whose length varies.
pub fn paper<R: Rng>(class: DocClass, rng: &mut R) -> (f32, f32) {
    match class {
        // Mostly the slip itself; sometimes a full scanner bed with the slip on it.
        DocClass::Receipt => {
            if rng.gen_bool(0.25) {
                if rng.gen_bool(0.6) {
                    A4
                } else {
                    LETTER
                }
            } else {
                let w = receipt::ROLL_WIDTHS[usize::from(rng.gen_bool(0.3))];
                (w, w * rng.gen_range(2.0..3.4))
            }
        }
        // Customs forms are European more often than not.
        DocClass::CustomsDeclaration => {
            if rng.gen_bool(0.8) {
                A4
            } else {
                LETTER
            }
        }
        _ => {
            if rng.gen_bool(0.6) {
                A4
            } else {
                LETTER
            }
        }
    }
}

/// Draws the class's layout onto the painter's blank page.
pub fn draw(class: DocClass, p: &mut Painter) {
    match class {
        DocClass::Invoice => invoice::draw(p),
        DocClass::CustomsDeclaration => customs::draw(p),
        DocClass::GenericDocument => generic::draw(p),
        DocClass::Receipt => receipt::draw(p),
        DocClass::Letter => letter::draw(p),
        DocClass::Form => form::draw(p),
    }
}
