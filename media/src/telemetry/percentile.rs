//! The one percentile rule of the viewer's `latency:` line and the benchmark's figures.

/// The value at fraction `p` (0..=1) of `sorted` (ascending): the sample whose 0-based rank
/// is nearest to `(n - 1) * p` (`round`, halves up). So `p = 0` is the minimum, `p = 1` the
/// maximum, and the median of an even count is the upper of the middle two. `None` if empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = (last as f64 * p.clamp(0.0, 1.0)).round() as usize;
    sorted.get(rank.min(last)).copied()
}

/// Samples sorted once, for several percentiles of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Percentiles {
    sorted: Vec<f64>,
}

impl Percentiles {
    /// Sorts a copy of `samples` (by [`f64::total_cmp`]).
    pub fn new(samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Percentiles { sorted }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// See [`percentile`].
    pub fn at(&self, p: f64) -> Option<f64> {
        percentile(&self.sorted, p)
    }

    /// The upper of the middle two for an even count.
    pub fn median(&self) -> Option<f64> {
        self.at(0.5)
    }

    pub fn max(&self) -> Option<f64> {
        self.sorted.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_rounded() {
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::new(&hundred);
        // (100 - 1) * 0.5 = 49.5 rounds up to rank 50: the 51st value.
        assert_eq!(p.at(0.5), Some(51.0));
        assert_eq!(p.at(0.95), Some(95.0));
        assert_eq!(p.at(0.99), Some(99.0));
        assert_eq!((p.at(0.0), p.at(1.0), p.max()), (Some(1.0), Some(100.0), Some(100.0)));
        assert_eq!(p.len(), 100);
        assert_eq!(Percentiles::new(&[]).at(0.5), None);
        assert!(Percentiles::new(&[]).is_empty());
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[1.0, 2.0], 1.5), Some(2.0), "p is clamped");
    }

    #[test]
    fn the_median_is_the_upper_middle() {
        // The benchmark's old median was `sorted[n / 2]`: the same rank for every n.
        for n in 1..50usize {
            let values: Vec<f64> = (0..n).rev().map(|v| v as f64).collect();
            let p = Percentiles::new(&values);
            assert_eq!(p.median(), Some((n / 2) as f64), "n={n}");
        }
    }
}
