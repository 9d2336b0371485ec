//! The per-page drawing context handed to layouts: canvas, random stream and typesetter.

use rand::distributions::uniform::{SampleRange, SampleUniform};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::canvas::Canvas;
use crate::text::{Align, Gt, ParAlign, TextStyle, Typesetter};

/// What a layout draws with. All coordinates are in points from the page's top-left.
pub struct Painter {
    pub c: Canvas,
    pub rng: ChaCha8Rng,
    pub ts: Typesetter,
}

impl Painter {
    pub fn new(c: Canvas, rng: ChaCha8Rng, ts: Typesetter) -> Self {
        Painter { c, rng, ts }
    }

    /// Page width in points.
    pub fn w(&self) -> f32 {
        self.c.width_pt()
    }
    /// Page height in points.
    pub fn h(&self) -> f32 {
        self.c.height_pt()
    }

    /// Uniform sample from a range.
    pub fn r<T: SampleUniform, R: SampleRange<T>>(&mut self, range: R) -> T {
        self.rng.gen_range(range)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    /// Draws a readable text line; returns its advance width.
    pub fn text(&mut self, s: &str, x: f32, top: f32, style: &TextStyle, align: Align) -> f32 {
        self.ts.draw(&mut self.c, s, x, top, style, align, Gt::Line)
    }

    /// Draws text that is boxed but marked don't-care (signatures written in a script face).
    pub fn text_dont_care(
        &mut self,
        s: &str,
        x: f32,
        top: f32,
        style: &TextStyle,
        align: Align,
    ) -> f32 {
        self.ts
            .draw(&mut self.c, s, x, top, style, align, Gt::DontCare)
    }

    /// Label and value on one baseline with a short gap, in two styles, recorded as one
    /// line (how "Invoice no.: 2023-0042" reads). Returns the total advance width.
    pub fn label_value(
        &mut self,
        label: &str,
        value: &str,
        x: f32,
        top: f32,
        label_style: &TextStyle,
        value_style: &TextStyle,
    ) -> f32 {
        let lw = self.ts.measure(label, label_style);
        let gap = self.ts.measure(" ", value_style);
        let runs = [
            (label, x, *label_style),
            (value, x + lw + gap, *value_style),
        ];
        self.ts.draw_styled_runs(&mut self.c, &runs, top, Gt::Line);
        lw + gap + self.ts.measure(value, value_style)
    }

    /// Width of `s` in points.
    pub fn measure(&self, s: &str, style: &TextStyle) -> f32 {
        self.ts.measure(s, style)
    }

    /// Line-box height of a style in points.
    pub fn line_height(&self, style: &TextStyle) -> f32 {
        self.ts.line_height(style)
    }

    /// Cuts `s` to fit `max_w` points.
    pub fn fit(&self, s: &str, style: &TextStyle, max_w: f32) -> String {
        self.ts.fit(s, style, max_w)
    }

    /// A wrapped paragraph; returns the y below it.
    #[allow(clippy::too_many_arguments)]
    pub fn paragraph(
        &mut self,
        words: &[String],
        x: f32,
        top: f32,
        width: f32,
        leading: f32,
        style: &TextStyle,
        align: ParAlign,
        max_bottom: f32,
    ) -> f32 {
        self.ts.paragraph(
            &mut self.c,
            words,
            x,
            top,
            width,
            leading,
            style,
            align,
            max_bottom,
        )
    }

    /// Several short lines stacked (address blocks); returns the y below them.
    pub fn lines(
        &mut self,
        lines: &[String],
        x: f32,
        top: f32,
        leading: f32,
        style: &TextStyle,
        align: Align,
    ) -> f32 {
        let mut y = top;
        for l in lines {
            self.text(l, x, y, style, align);
            y += style.size * leading;
        }
        y
    }
}
