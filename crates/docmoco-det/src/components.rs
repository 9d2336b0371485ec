//! 8-connected components of a binary map.
//!
//! DBNet's post-processing takes `cv2.findContours` of the binarised map and fits a
//! rectangle to each contour. A rectangle fitted to the outer contour is the same as one
//! fitted to all the component's pixels (both have the same convex hull), so components
//! are enough, and they avoid the spurious extra candidates `RETR_LIST` makes of holes.
//! Only each row's two extreme pixels are kept: they already contain the hull.

/// One component: pixel centres (integer coordinates) of its leftmost and rightmost pixel
/// in every row it spans, and its pixel count.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub extremes: Vec<[f32; 2]>,
    pub pixels: usize,
}

/// Components of `mask` (`height * width`, row-major), in raster order of their first pixel,
/// at most `max` of them.
pub fn components(mask: &[bool], height: usize, width: usize, max: usize) -> Vec<Component> {
    let mut label = vec![false; mask.len()];
    let mut out = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut rows: Vec<(usize, usize, usize)> = Vec::new(); // (y, min x, max x)
    for start in 0..mask.len().min(height * width) {
        if !mask[start] || label[start] {
            continue;
        }
        if out.len() >= max {
            break;
        }
        label[start] = true;
        stack.push(start);
        rows.clear();
        let mut pixels = 0;
        while let Some(i) = stack.pop() {
            pixels += 1;
            let (y, x) = (i / width, i % width);
            rows.push((y, x, x));
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                    if ny < 0 || nx < 0 || ny >= height as i64 || nx >= width as i64 {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if mask[j] && !label[j] {
                        label[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        // Merge to one (min, max) per row.
        rows.sort_unstable();
        let mut extremes = Vec::new();
        let mut k = 0;
        while k < rows.len() {
            let y = rows[k].0;
            let (mut lo, mut hi) = (rows[k].1, rows[k].2);
            while k < rows.len() && rows[k].0 == y {
                lo = lo.min(rows[k].1);
                hi = hi.max(rows[k].2);
                k += 1;
            }
            extremes.push([lo as f32, y as f32]);
            if hi != lo {
                extremes.push([hi as f32, y as f32]);
            }
        }
        out.push(Component { extremes, pixels });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: &[&str]) -> (Vec<bool>, usize, usize) {
        let w = rows[0].len();
        let m = rows
            .iter()
            .flat_map(|r| r.chars().map(|c| c == '#'))
            .collect();
        (m, rows.len(), w)
    }

    #[test]
    fn eight_connectivity_and_row_extremes() {
        let (m, h, w) = mask(&[
            "##....#", //
            "..#...#", // diagonal touch joins the first blob
            "......#", "###....",
        ]);
        let c = components(&m, h, w, 100);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].pixels, 3);
        assert_eq!(c[1].pixels, 3);
        assert_eq!(c[2].extremes, vec![[0.0, 3.0], [2.0, 3.0]]);
        assert_eq!(components(&m, h, w, 2).len(), 2);
        assert!(components(&[false; 4], 2, 2, 10).is_empty());
    }
}
