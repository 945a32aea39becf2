//! A small fixed-size latency histogram in microseconds, in the manner of HdrHistogram:
//! exact below 1024 µs, and within 1/512 (≈0.2 %) of the true value above that.
//! Constant memory whatever the run's length, and cheap to merge across clients.

const LINEAR: u64 = 1024;
const HALF: u64 = LINEAR / 2;
/// Values are clamped to 2^40 µs (about 12 days), far beyond any request timeout.
const MAX_SHIFT: u64 = 31;
const BUCKETS: usize = (LINEAR + MAX_SHIFT * HALF) as usize;
const MAX_VALUE: u64 = (1 << (MAX_SHIFT + 10)) - 1;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

fn index(v: u64) -> usize {
    let v = v.min(MAX_VALUE);
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - u64::from(v.leading_zeros());
    let shift = msb - 9;
    (LINEAR + (shift - 1) * HALF + ((v >> shift) - HALF)) as usize
}

/// The highest value that lands in bucket `i`.
fn upper(i: usize) -> u64 {
    let i = i as u64;
    if i < LINEAR {
        return i;
    }
    let shift = (i - LINEAR) / HALF + 1;
    let m = (i - LINEAR) % HALF + HALF;
    ((m + 1) << shift) - 1
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
        self.sum += u128::from(micros);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at percentile `p` (0–100]: the smallest recorded value such that at least
    /// `p` % of the samples are at or below it (to the bucket's precision). 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut last = 0;
        for v in 0..5_000_000u64 {
            let i = index(v);
            assert!(i == last || i == last + 1, "gap at {v}");
            last = i;
            let up = upper(i);
            assert!(up >= v);
            assert!(
                (up - v) as f64 <= (v as f64 / 512.0).max(0.0) + 1e-9,
                "{v} -> {up}"
            );
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_of_uniform_values() {
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        assert_eq!(h.percentile(50.0), 500);
        assert_eq!(h.percentile(99.0), 990);
        assert_eq!(h.percentile(100.0), 1000);
        assert_eq!(h.max(), 1000);
        let mut big = Histogram::default();
        big.record(1_000_000);
        h.merge(&big);
        assert_eq!(h.len(), 1001);
        assert_eq!(h.percentile(100.0), 1_000_000);
        let p = Histogram::default().percentile(99.0);
        assert_eq!(p, 0);
    }
}
