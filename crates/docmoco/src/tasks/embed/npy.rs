//! The NumPy `.npy` format (version 1.0) for a `float32` matrix — the most widely readable
//! container for embeddings (`numpy.load`, `np.memmap`, Julia's NPZ, ...), and small enough
//! to write by hand: a magic string, a little-endian header length, a Python-dict header
//! padded to a multiple of 64 bytes, then the raw row-major data.
//! Spec: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Errors of reading or writing an `.npy` file; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a float32 [N, D] .npy file: {message}")]
    Format { path: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NpyError + '_ {
    move |source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The header of a C-order little-endian float32 `[rows, cols]` array, padded so the data
/// starts 64-byte aligned (what `numpy.save` does, so memory-mapping stays aligned).
fn header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // magic (6) + version (2) + header length (2) + dict + padding + '\n'
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let len = dict.len() + pad + 1;
    let mut out = Vec::with_capacity(unpadded + pad);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out
}

/// Writes `values` (`rows x cols`, row-major) as a float32 `.npy`.
pub fn write_npy(path: &Path, values: &[f32], rows: usize, cols: usize) -> Result<(), NpyError> {
    if values.len() != rows * cols {
        return Err(NpyError::Format {
            path: path.to_path_buf(),
            message: format!(
                "{} values cannot be a [{rows}, {cols}] matrix",
                values.len()
            ),
        });
    }
    let mut bytes = header(rows, cols);
    bytes.reserve(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(&bytes).map_err(io(path))
}

/// Value of `key` in a `.npy` header dict (`'shape': (3, 4), ` → `(3, 4)`).
fn field<'a>(dict: &'a str, key: &str) -> Option<&'a str> {
    let start = dict.find(&format!("'{key}':"))? + key.len() + 3;
    let rest = dict[start..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find(',')?
    };
    Some(rest[..end].trim())
}

/// Reads a float32 `[rows, cols]` `.npy` (version 1 or 2, little-endian, C order).
/// Returns `(values, rows, cols)`.
pub fn read_npy(path: &Path) -> Result<(Vec<f32>, usize, usize), NpyError> {
    let bad = |message: String| NpyError::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io(path))?
        .read_to_end(&mut bytes)
        .map_err(io(path))?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("no \\x93NUMPY magic".into()));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported format version {v}"))),
    };
    let dict = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated header".into()))?;
    match field(dict, "descr") {
        Some("'<f4'") => {}
        other => {
            return Err(bad(format!(
                "dtype {} (expected '<f4', float32 little-endian)",
                other.unwrap_or("missing")
            )))
        }
    }
    if field(dict, "fortran_order") != Some("False") {
        return Err(bad("Fortran order is not supported".into()));
    }
    let shape = field(dict, "shape").ok_or_else(|| bad("no shape".into()))?;
    let dims: Vec<usize> = shape
        .trim_matches(|c| c == '(' || c == ')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("shape {shape}: {e}")))?;
    let [rows, cols] = dims[..] else {
        return Err(bad(format!("shape {shape} is not 2-D")));
    };
    let data = &bytes[start + hlen..];
    if data.len() != rows * cols * 4 {
        return Err(bad(format!(
            "shape ({rows}, {cols}) needs {} data bytes, the file has {}",
            rows * cols * 4,
            data.len()
        )));
    }
    let values = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((values, rows, cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_numpy_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        let v: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        write_npy(&p, &v, 3, 4).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        // Data 64-byte aligned, header ends in '\n', as numpy.save writes it.
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert_eq!(bytes[10 + hlen - 1], b'\n');
        assert!(std::str::from_utf8(&bytes[10..10 + hlen])
            .unwrap()
            .contains("'shape': (3, 4)"));
        let (back, r, c) = read_npy(&p).unwrap();
        assert_eq!((r, c), (3, 4));
        assert_eq!(back, v);
    }

    #[test]
    fn refuses_wrong_dtype_shape_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.npy");
        assert!(write_npy(&p, &[1.0; 5], 2, 3).is_err());
        let mut bytes = header(2, 3);
        bytes.extend_from_slice(&[0u8; 20]); // 5 floats, not 6
        std::fs::write(&p, &bytes).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("bad.npy") && e.contains("24 data bytes"), "{e}");
        let mut f8 = header(2, 3);
        let at = f8.windows(3).position(|w| w == b"<f4").unwrap();
        f8[at + 2] = b'8';
        std::fs::write(&p, f8).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("'<f8'"), "{e}");
        std::fs::write(&p, b"hello").unwrap();
        assert!(read_npy(&p).unwrap_err().to_string().contains("magic"));
    }
}
