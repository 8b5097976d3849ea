//! Key rank sampling (Zipf or uniform) and the rank -> key index permutation.

use rand::Rng;

/// Samples ranks in `0..n` (0 = hottest): Zipf with exponent `s`, or uniform
/// when `s == 0`.
///
/// Zipf uses rejection-inversion (W. Hörmann, G. Derflinger, "Rejection-
/// inversion to generate variates from monotone discrete distributions",
/// 1996), as in Apache Commons RNG: O(1) time and memory per sample for any
/// `n`, about 1.1 uniform draws per sample.
#[derive(Debug, Clone)]
pub struct Sampler {
    n: u64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    sv: f64,
}

impl Sampler {
    /// `n >= 1`, `s >= 0` and finite (checked by the caller).
    pub fn new(n: u64, s: f64) -> Sampler {
        let mut z = Sampler {
            n,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            sv: 0.0,
        };
        if s > 0.0 {
            z.h_integral_x1 = z.h_integral(1.5) - 1.0;
            z.h_integral_n = z.h_integral(n as f64 + 0.5);
            z.sv = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        }
        z
    }

    /// A rank in `0..n`.
    #[inline]
    pub fn sample<R: Rng>(&self, rng: &mut R) -> u64 {
        if self.s <= 0.0 || self.n == 1 {
            return if self.n == 1 {
                0
            } else {
                rng.random_range(0..self.n)
            };
        }
        loop {
            let u =
                self.h_integral_n + rng.random::<f64>() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let mut k = (x + 0.5) as u64;
            if k < 1 {
                k = 1;
            } else if k > self.n {
                k = self.n;
            }
            if k as f64 - x <= self.sv || u >= self.h_integral(k as f64 + 0.5) - self.h(k as f64) {
                return k - 1;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let mut t = x * (1.0 - self.s);
        if t < -1.0 {
            // Rounding can push t just below -1: clamp (limit of the domain).
            t = -1.0;
        }
        (helper1(t) * x).exp()
    }
}

/// ln(1+x)/x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1)/x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

/// A fixed bijection of `0..n` that scatters ranks: `index = (rank * a + b)
/// mod n` with `gcd(a, n) = 1` and `a` near `n` times the golden ratio
/// conjugate, so consecutive (hot) ranks land far apart in the keyspace.
/// It depends only on `n`: every run with the same `--keys` agrees on which
/// keys are hot.
#[derive(Debug, Clone, Copy)]
pub struct Permutation {
    n: u64,
    a: u64,
    b: u64,
}

impl Permutation {
    pub fn new(n: u64) -> Permutation {
        if n <= 2 {
            return Permutation { n, a: 1, b: 0 };
        }
        let mut a = ((n as f64) * 0.618_033_988_749_895) as u64;
        a = a.clamp(1, n - 1);
        while gcd(a, n) != 1 {
            a += 1;
            if a >= n {
                a = 1;
            }
        }
        Permutation { n, a, b: n / 3 }
    }

    #[inline]
    pub fn index(&self, rank: u64) -> u64 {
        ((u128::from(rank) * u128::from(self.a) + u128::from(self.b)) % u128::from(self.n)) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn check(n: u64, s: f64) {
        let z = Sampler::new(n, s);
        let mut rng = SmallRng::seed_from_u64(7);
        let draws = 2_000_000u64;
        let mut counts = vec![0u64; n as usize];
        for _ in 0..draws {
            let r = z.sample(&mut rng);
            assert!(r < n);
            counts[r as usize] += 1;
        }
        let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        for k in [1u64, 2, 3, 10, n / 2, n] {
            let expect = (k as f64).powf(-s) / norm * draws as f64;
            let got = counts[(k - 1) as usize] as f64;
            let tol = 5.0 * expect.sqrt() + 0.01 * expect;
            assert!(
                (got - expect).abs() <= tol,
                "n={n} s={s} rank {k}: got {got}, expected {expect:.0}"
            );
        }
    }

    #[test]
    fn zipf_matches_pmf() {
        check(1000, 0.99);
        check(1000, 1.0);
        check(100, 1.5);
        check(50, 0.5);
        check(1000, 0.0);
    }

    #[test]
    fn permutation_is_bijective() {
        for n in [1u64, 2, 3, 10, 97, 100, 640, 1024, 6561] {
            let p = Permutation::new(n);
            let mut seen = vec![false; n as usize];
            for r in 0..n {
                let i = p.index(r) as usize;
                assert!(!seen[i], "n={n}");
                seen[i] = true;
            }
        }
        let p = Permutation::new(640_000);
        assert!(p.index(0).abs_diff(p.index(1)) > 1000);
    }
}
