//! ICDAR 2015 (Incidental Scene Text, task 4.1) text-detection ground truth.
//!
//! One file per image (`gt_img_<n>.txt`), one text instance per line:
//! `x1,y1,x2,y2,x3,y3,x4,y4,transcription`. The four points go clockwise from the top-left.
//! The transcription is everything after the eighth comma, so it may contain commas itself;
//! `###` marks a "don't care" region that the ICDAR protocol neither rewards nor penalises.
//! The official files are UTF-8 with a byte-order mark and CRLF line ends; both are accepted
//! here, as are files without them, so hand-written or generated ground truth also loads.

use std::path::Path;

use crate::DataError;

/// Transcription the ICDAR protocol uses for regions excluded from evaluation.
pub const DONT_CARE: &str = "###";

/// Names of the eight coordinate fields, for error messages.
const COORD_FIELDS: [&str; 8] = ["x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"];

/// One annotated text instance.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    /// The four corners `[x, y]` in pixels, in file order (clockwise from top-left).
    pub quad: [[f32; 2]; 4],
    /// The transcription (`###` for don't-care regions).
    pub text: String,
    /// True when the region is excluded from evaluation (transcription `###`).
    pub dont_care: bool,
}

impl TextLine {
    /// A line that takes part in evaluation.
    pub fn new(quad: [[f32; 2]; 4], text: impl Into<String>) -> Self {
        let text = text.into();
        let dont_care = text == DONT_CARE;
        TextLine {
            quad,
            text,
            dont_care,
        }
    }
}

/// Parses the text of one ground-truth file; `path` only names the source in errors.
pub fn parse_gt_str(text: &str, path: &Path) -> Result<Vec<TextLine>, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    // `str::lines` strips both "\n" and "\r\n".
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        lines.push(parse_line(raw, path, i + 1)?);
    }
    Ok(lines)
}

/// Reads and parses one ground-truth file.
pub fn parse_gt_file(path: &Path) -> Result<Vec<TextLine>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // Report the line of the first invalid byte, so the user can find it.
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        DataError::Parse {
            path: path.to_path_buf(),
            line,
            field: "encoding".into(),
            message: "not valid UTF-8".into(),
        }
    })?;
    parse_gt_str(&text, path)
}

fn parse_line(raw: &str, path: &Path, line: usize) -> Result<TextLine, DataError> {
    let err = |field: &str, message: String| DataError::Parse {
        path: path.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    // Split off the 8 coordinates; the 9th piece is the rest of the line, commas included.
    let mut parts = raw.splitn(9, ',');
    let mut coords = [0f32; 8];
    for (k, name) in COORD_FIELDS.iter().enumerate() {
        let field = parts.next().ok_or_else(|| {
            err(
                name,
                "missing (expected 8 coordinates and a transcription)".into(),
            )
        })?;
        let value: f32 = field
            .trim()
            .parse()
            .map_err(|_| err(name, format!("`{}` is not a number", field.trim())))?;
        if !value.is_finite() {
            return Err(err(name, format!("`{}` is not finite", field.trim())));
        }
        coords[k] = value;
    }
    let text = parts
        .next()
        .ok_or_else(|| err("transcription", "missing (line has only 8 fields)".into()))?
        .trim_end_matches('\r');
    let quad = [
        [coords[0], coords[1]],
        [coords[2], coords[3]],
        [coords[4], coords[5]],
        [coords[6], coords[7]],
    ];
    Ok(TextLine::new(quad, text))
}

/// Formats lines in the ICDAR 2015 layout: integer (rounded) coordinates, `###` for
/// don't-care lines, `\n` line ends, no byte-order mark.
pub fn format_gt(lines: &[TextLine], path_for_errors: &Path) -> Result<String, DataError> {
    let mut out = String::new();
    for (index, l) in lines.iter().enumerate() {
        let text = if l.dont_care {
            DONT_CARE
        } else {
            l.text.as_str()
        };
        if text.contains(['\n', '\r']) {
            return Err(DataError::Write {
                path: path_for_errors.to_path_buf(),
                index,
                message: "transcription contains a line break".into(),
            });
        }
        for p in &l.quad {
            for v in p {
                if !v.is_finite() {
                    return Err(DataError::Write {
                        path: path_for_errors.to_path_buf(),
                        index,
                        message: format!("coordinate {v} is not finite"),
                    });
                }
                out.push_str(&format!("{},", v.round() as i64));
            }
        }
        out.push_str(text);
        out.push('\n');
    }
    Ok(out)
}

/// Writes lines to `path` in the ICDAR 2015 layout (see [`format_gt`]).
pub fn write_gt_file(path: &Path, lines: &[TextLine]) -> Result<(), DataError> {
    let text = format_gt(lines, path)?;
    std::fs::write(path, text).map_err(|e| DataError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("gt_img_1.txt")
    }

    #[test]
    fn parses_official_layout_with_bom_and_crlf() {
        let text = "\u{feff}377,117,463,117,465,130,378,130,Genaxis Theatre\r\n\
                    493,115,519,115,519,131,493,131,[06]\r\n\
                    374,155,409,155,409,170,374,170,###\r\n";
        let lines = parse_gt_str(text, p()).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].text, "Genaxis Theatre");
        assert_eq!(lines[0].quad[2], [465.0, 130.0]);
        assert!(!lines[0].dont_care);
        assert!(lines[2].dont_care);
    }

    #[test]
    fn transcription_keeps_commas_and_blank_lines_are_ignored() {
        let text = "\n1,2,3,4,5,6,7,8,Hello, world,!\n   \n1.5, 2 ,3,4,5,6,7,8,\n";
        let lines = parse_gt_str(text, p()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "Hello, world,!");
        assert_eq!(lines[1].quad[0], [1.5, 2.0]);
        assert_eq!(lines[1].text, "");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = parse_gt_str("1,2,3,4,5,6,7,8,ok\n1,2,3,4,x,6,7,8,bad\n", p()).unwrap_err();
        match &e {
            DataError::Parse { line, field, .. } => {
                assert_eq!(*line, 2);
                assert_eq!(field, "x3");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(e.to_string().contains("gt_img_1.txt:2"), "{e}");
        let e = parse_gt_str("1,2,3,4,5,6,7,8", p()).unwrap_err();
        assert!(matches!(e, DataError::Parse { ref field, .. } if field == "transcription"));
        let e = parse_gt_str("1,2,3", p()).unwrap_err();
        assert!(matches!(e, DataError::Parse { ref field, .. } if field == "y2"));
    }

    #[test]
    fn write_then_parse_round_trips_with_rounding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.txt");
        let lines = vec![
            TextLine::new([[1.4, 2.6], [10.0, 2.0], [10.0, 8.0], [1.0, 8.0]], "a, b"),
            TextLine::new([[0.0; 2]; 4], DONT_CARE),
        ];
        write_gt_file(&path, &lines).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("1,3,10,2,10,8,1,8,a, b\n"), "{text}");
        let back = parse_gt_file(&path).unwrap();
        assert_eq!(back[0].text, "a, b");
        assert_eq!(back[0].quad[0], [1.0, 3.0]);
        assert!(back[1].dont_care);
    }

    #[test]
    fn refuses_line_breaks_in_transcriptions() {
        let lines = vec![TextLine::new([[0.0; 2]; 4], "a\nb")];
        assert!(matches!(
            format_gt(&lines, p()),
            Err(DataError::Write { index: 0, .. })
        ));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.txt");
        std::fs::write(&path, b"1,2,3,4,5,6,7,8,a\n1,2,3,4,5,6,7,8,\xff\n").unwrap();
        let e = parse_gt_file(&path).unwrap_err();
        assert!(matches!(e, DataError::Parse { line: 2, .. }), "{e}");
    }
}
