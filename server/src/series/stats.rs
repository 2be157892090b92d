//! Small, dependency-free statistics for indicator series: confidence
//! intervals for proportions and their changes, and a robust trend line.
//!
//! Everything here is pure arithmetic on already-counted data so that it can
//! be unit-tested against published worked examples.

/// Two-sided 95% standard normal quantile (the 0.975 quantile). Kept at full
/// precision so results match reference implementations to the last
/// printed digit rather than drifting from the rounded 1.96.
pub const Z95: f64 = 1.959963984540054;

/// A closed interval `[lower, upper]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lower: f64,
    pub upper: f64,
}

/// Wilson score interval for the proportion `successes / n`, on the 0..1
/// scale, for the two-sided normal quantile `z` (use [`Z95`] for 95%).
///
/// Wilson rather than the textbook Wald interval because indicator counts are
/// often small or at 0% / 100%, where Wald collapses to zero width or leaves
/// [0, 1]; Wilson stays informative there.
///
/// Returns `None` when `n == 0`, `successes > n`, or `z` is not a finite
/// non-negative number.
pub fn wilson(successes: u64, n: u64, z: f64) -> Option<Interval> {
    if n == 0 || successes > n || !z.is_finite() || z < 0.0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // Algebraically the bounds are within [0, 1]; rounding can push the 0%
    // and 100% cases a hair outside, which would look absurd in a report.
    Some(Interval {
        lower: (centre - half).clamp(0.0, 1.0),
        upper: (centre + half).clamp(0.0, 1.0),
    })
}

/// Newcombe's hybrid score interval (method 10 of Newcombe, 1998) for the
/// difference `p2 − p1`, where `p1 = s1 / n1` is the earlier sample and
/// `p2 = s2 / n2` the later one, so a positive value is an increase.
///
/// It combines the two Wilson intervals instead of using a Wald variance for
/// the same reason [`wilson`] exists: it behaves at small counts and at the
/// 0% / 100% boundaries, and it needs no iteration.
///
/// Returns `None` if either sample is empty or has more successes than
/// trials.
pub fn newcombe_difference(s1: u64, n1: u64, s2: u64, n2: u64, z: f64) -> Option<Interval> {
    let w1 = wilson(s1, n1, z)?;
    let w2 = wilson(s2, n2, z)?;
    let p1 = s1 as f64 / n1 as f64;
    let p2 = s2 as f64 / n2 as f64;
    let d = p2 - p1;
    // The difference is lowest when p2 is at its lower bound and p1 at its
    // upper bound, and vice versa; each side only uses the matching halves
    // of the Wilson intervals, which is what makes the result asymmetric.
    let down = ((p2 - w2.lower).powi(2) + (w1.upper - p1).powi(2)).sqrt();
    let up = ((w2.upper - p2).powi(2) + (p1 - w1.lower).powi(2)).sqrt();
    Some(Interval {
        lower: d - down,
        upper: d + up,
    })
}

/// A straight line `y = slope · x + intercept`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
}

impl Line {
    pub fn at(&self, x: f64) -> f64 {
        self.slope * x + self.intercept
    }
}

/// Theil–Sen estimator: the slope is the median of the slopes over all pairs
/// of points with distinct `x`, and the intercept the median of
/// `y − slope · x`.
///
/// Chosen over least squares because a single mis-entered month (a typo'd
/// denominator, a backlog uploaded at once) would otherwise tilt the whole
/// trend; Theil–Sen tolerates roughly 29% outliers.
///
/// Points with a non-finite coordinate are ignored. Returns `None` if fewer
/// than two distinct `x` values remain. Cost is quadratic in the number of
/// points, which is fine for per-period series of a few hundred points.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<Line> {
    let finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();

    let mut slopes = Vec::new();
    for (i, &(x1, y1)) in finite.iter().enumerate() {
        for &(x2, y2) in &finite[i + 1..] {
            if x1 != x2 {
                slopes.push((y2 - y1) / (x2 - x1));
            }
        }
    }
    let slope = median(&mut slopes)?;

    let mut intercepts: Vec<f64> = finite.iter().map(|&(x, y)| y - slope * x).collect();
    let intercept = median(&mut intercepts)?;
    Some(Line { slope, intercept })
}

/// Median of `values`, reordering the slice in place: the middle value for
/// an odd count, the mean of the two middle values for an even count.
///
/// Returns `None` for an empty slice, and also if any value is NaN, since NaN
/// has no place in an ordering and any answer would be arbitrary.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let odd = values.len() % 2 == 1;
    // Selection instead of a full sort: Theil–Sen feeds this O(n²) slopes.
    let (lower, &mut upper_mid, _) =
        values.select_nth_unstable_by(values.len() / 2, f64::total_cmp);
    if odd {
        return Some(upper_mid);
    }
    let lower_mid = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(lower_mid / 2.0 + upper_mid / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "expected {expected} ± {tolerance}, got {actual}"
        );
    }

    #[test]
    fn wilson_typical() {
        // p = 81/263 = 0.307985; z² = 3.841459; z²/n = 0.014606.
        // centre = (0.307985 + 0.007303) / 1.014606 = 0.310749
        // half   = 1.959964 / 1.014606 · √(0.00081039 + 0.00001388)
        //        = 1.931748 · 0.028710 = 0.055461
        // → 0.255288 .. 0.366210
        let i = wilson(81, 263, Z95).unwrap();
        close(i.lower, 0.2553, 5e-5);
        close(i.upper, 0.3662, 5e-5);
    }

    #[test]
    fn wilson_zero_successes() {
        // With p = 0 the centre equals the half-width, so lower = 0 and
        // upper = z² / (n + z²) = 3.841459 / 13.841459 = 0.277533.
        let i = wilson(0, 10, Z95).unwrap();
        assert_eq!(i.lower, 0.0);
        close(i.upper, 0.277533, 1e-6);
    }

    #[test]
    fn wilson_all_successes() {
        // Mirror image of the zero case: lower = n / (n + z²)
        // = 10 / 13.841459 = 0.722467, upper = 1.
        let i = wilson(10, 10, Z95).unwrap();
        close(i.lower, 0.722467, 1e-6);
        close(i.upper, 1.0, 1e-12);
        assert!(i.upper <= 1.0);
    }

    #[test]
    fn wilson_rejects_bad_input() {
        assert_eq!(wilson(0, 0, Z95), None);
        assert_eq!(wilson(11, 10, Z95), None);
        assert_eq!(wilson(1, 10, f64::NAN), None);
        assert_eq!(wilson(1, 10, -1.0), None);
    }

    #[test]
    fn wilson_zero_z_is_a_point() {
        let i = wilson(1, 4, 0.0).unwrap();
        assert_eq!(
            i,
            Interval {
                lower: 0.25,
                upper: 0.25
            }
        );
    }

    #[test]
    fn newcombe_published_example() {
        // Newcombe (1998), example (a): 56/70 vs 48/80, method 10 gives
        // 0.0524 .. 0.3339 for p1 − p2 = 0.2. Here the sign is p2 − p1:
        // Wilson 56/70 = 0.691834 .. 0.876953, 48/80 = 0.490455 .. 0.700382.
        // lower = −0.2 − √(0.109545² + 0.076953²) = −0.2 − 0.133873 = −0.333873
        // upper = −0.2 + √(0.100382² + 0.108166²) = −0.2 + 0.147569 = −0.052431
        let i = newcombe_difference(56, 70, 48, 80, Z95).unwrap();
        close(i.lower, -0.3339, 5e-5);
        close(i.upper, -0.0524, 5e-5);
    }

    #[test]
    fn newcombe_is_antisymmetric_in_sample_order() {
        let forward = newcombe_difference(56, 70, 48, 80, Z95).unwrap();
        let backward = newcombe_difference(48, 80, 56, 70, Z95).unwrap();
        close(backward.lower, 0.0524, 5e-5);
        close(backward.upper, 0.3339, 5e-5);
        close(forward.lower, -backward.upper, 1e-12);
        close(forward.upper, -backward.lower, 1e-12);
    }

    #[test]
    fn newcombe_stays_within_unit_range_at_extremes() {
        let i = newcombe_difference(0, 5, 5, 5, Z95).unwrap();
        assert!(i.lower > 0.0 && i.upper <= 1.0, "{i:?}");
    }

    #[test]
    fn newcombe_rejects_empty_samples() {
        assert_eq!(newcombe_difference(0, 0, 1, 2, Z95), None);
        assert_eq!(newcombe_difference(1, 2, 0, 0, Z95), None);
        assert_eq!(newcombe_difference(3, 2, 1, 2, Z95), None);
    }

    #[test]
    fn theil_sen_ignores_one_outlier() {
        // y = 2x + 1 except at x = 4. Of the 10 pair slopes, the six among
        // the clean points are 2 and the four involving the outlier are
        // 93, 47.5, 32.33, 24.75, so the median (5th and 6th) is 2.
        // Residuals y − 2x are 1, 1, 1, 1, 92 → intercept 1.
        let points = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0), (4.0, 100.0)];
        let line = theil_sen(&points).unwrap();
        assert_eq!(
            line,
            Line {
                slope: 2.0,
                intercept: 1.0
            }
        );
        assert_eq!(line.at(10.0), 21.0);
    }

    #[test]
    fn theil_sen_two_points() {
        // slope = (8 − 2) / (3 − 1) = 3; intercepts 2 − 3 = −1 and 8 − 9 = −1.
        let line = theil_sen(&[(1.0, 2.0), (3.0, 8.0)]).unwrap();
        assert_eq!(
            line,
            Line {
                slope: 3.0,
                intercept: -1.0
            }
        );
    }

    #[test]
    fn theil_sen_needs_two_distinct_x() {
        assert_eq!(theil_sen(&[(2.0, 1.0), (2.0, 5.0)]), None);
        assert_eq!(theil_sen(&[(2.0, 1.0)]), None);
        assert_eq!(theil_sen(&[]), None);
    }

    #[test]
    fn theil_sen_skips_same_x_pairs_and_non_finite_points() {
        // Usable slopes: (0,0)→(1,1) = 1 and (0,2)→(1,1) = −1 → median 0.
        // Intercepts y − 0·x = 0, 2, 1 → median 1.
        let points = [
            (0.0, 0.0),
            (0.0, 2.0),
            (1.0, 1.0),
            (f64::NAN, 3.0),
            (5.0, f64::INFINITY),
        ];
        let line = theil_sen(&points).unwrap();
        assert_eq!(
            line,
            Line {
                slope: 0.0,
                intercept: 1.0
            }
        );
        // Only non-finite points besides one real one: nothing to fit.
        assert_eq!(theil_sen(&[(1.0, 1.0), (f64::NAN, 2.0)]), None);
    }

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut [7.0]), Some(7.0));
        assert_eq!(median(&mut [5.0, -1.0]), Some(2.0));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn median_with_duplicates_and_nan() {
        assert_eq!(median(&mut [2.0, 2.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [1.0, f64::NAN, 3.0]), None);
    }

    #[test]
    fn median_does_not_overflow() {
        assert_eq!(median(&mut [f64::MAX, f64::MAX]), Some(f64::MAX));
    }
}
