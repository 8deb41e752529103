//! Code generation: uniform decimal digits from the OS CSPRNG.
//!
//! A random `u64` is drawn from the operating system (`getrandom`) and kept only
//! if it falls below the largest multiple of `10^length` that fits in a `u64`;
//! otherwise it is redrawn (rejection sampling). Taking the remainder of an
//! accepted value is then exactly uniform over `0..10^length`, so every code,
//! and every digit at every position, is equally likely. With `10^10 < 2^34` a
//! draw is rejected with probability below `2^-30`, so one system call per code
//! is the norm.

use crate::error::{Error, Result};

use super::code::OtpCode;

/// Shortest code accepted.
pub const MIN_LENGTH: usize = 4;
/// Longest code accepted.
pub const MAX_LENGTH: usize = 10;

/// Generates a code of `length` digits (4–10), leading zeros kept.
///
/// Fails with `INVALID_ARGUMENT` for other lengths, and with `IO_ERROR` if the
/// operating system's random source is unavailable (never a weaker fallback).
pub fn generate_otp(length: usize) -> Result<OtpCode> {
    check_length(length)?;
    loop {
        let v = getrandom::u64().map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "OS random source failed: {e}"
            )))
        })?;
        if let Some(digits) = digits_from(v, length) {
            return Ok(OtpCode::from_digits(digits));
        }
    }
}

/// Fails with a clear `INVALID_ARGUMENT` unless `length` is 4–10.
pub(crate) fn check_length(length: usize) -> Result<()> {
    if (MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "OTP length must be {MIN_LENGTH} to {MAX_LENGTH} digits, got {length}"
        )))
    }
}

/// The code for one random draw, or `None` when the draw must be rejected to
/// avoid modulo bias. `length` must already be checked.
fn digits_from(v: u64, length: usize) -> Option<String> {
    let modulus = 10u64.pow(length as u32);
    // Largest multiple of `modulus` representable; draws at or above it would
    // make the low residues more likely than the high ones.
    let zone = (u64::MAX / modulus) * modulus;
    if v >= zone {
        return None;
    }
    Some(format!("{:0width$}", v % modulus, width = length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_outside_4_to_10_are_invalid_argument() {
        for bad in [0, 1, 3, 11, 64, usize::MAX] {
            let err = generate_otp(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_ARGUMENT");
            assert!(err.to_string().contains("4 to 10"), "{err}");
        }
        for ok in MIN_LENGTH..=MAX_LENGTH {
            let c = generate_otp(ok).unwrap();
            assert_eq!(c.len(), ok);
            assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn leading_zeros_are_kept() {
        assert_eq!(digits_from(42, 6).as_deref(), Some("000042"));
        // A real draw starting with 0 happens one time in ten.
        let found = (0..2_000).any(|_| generate_otp(4).unwrap().expose().starts_with('0'));
        assert!(found, "no code with a leading zero in 2000 draws");
    }

    #[test]
    fn draws_in_the_biased_tail_are_rejected() {
        for len in MIN_LENGTH..=MAX_LENGTH {
            let m = 10u64.pow(len as u32);
            let zone = (u64::MAX / m) * m;
            assert!(digits_from(zone - 1, len).is_some());
            assert!(digits_from(zone, len).is_none());
            assert!(digits_from(u64::MAX, len).is_none());
        }
    }

    /// Chi-square critical value for 9 degrees of freedom at p = 1e-4: a fair
    /// generator exceeds it at one position in 10,000.
    const CHI2_9DF_P1E4: f64 = 33.72;

    fn chi_square_per_position(length: usize, samples: usize) -> Vec<f64> {
        let mut counts = vec![[0u64; 10]; length];
        for _ in 0..samples {
            let code = generate_otp(length).unwrap();
            for (pos, b) in code.expose().bytes().enumerate() {
                counts[pos][(b - b'0') as usize] += 1;
            }
        }
        counts
            .iter()
            .map(|c| chi_square(c, samples as f64 / 10.0))
            .collect()
    }

    /// Pearson's statistic for observed counts against one expected count.
    fn chi_square(observed: &[u64], expected: f64) -> f64 {
        observed
            .iter()
            .map(|&o| (o as f64 - expected).powi(2) / expected)
            .sum()
    }

    /// Two-stage test so that a fair generator does not fail the suite by
    /// chance. With 16 positions checked at p = 1e-4, one run in ~600 would
    /// see a fair position over the line (CI once did). A position over the
    /// line is therefore measured again on a fresh 100,000 codes: a real bias
    /// (say modulo bias, chi-square ≈ 36 at this size, or anything larger)
    /// shows up in both samples, while a fair generator fails both with
    /// probability 16 × 1e-8.
    #[test]
    fn digits_are_uniform_at_every_position_chi_square() {
        const SAMPLES: usize = 100_000;
        for length in [6, 10] {
            let first = chi_square_per_position(length, SAMPLES);
            let mut second: Option<Vec<f64>> = None;
            for (pos, x) in first.iter().enumerate() {
                if *x < CHI2_9DF_P1E4 {
                    continue;
                }
                let again = second.get_or_insert_with(|| chi_square_per_position(length, SAMPLES));
                assert!(
                    again[pos] < CHI2_9DF_P1E4,
                    "length {length} position {pos}: chi-square {x:.2} and again {:.2} \
                     on a fresh sample, both ≥ {CHI2_9DF_P1E4}",
                    again[pos]
                );
            }
        }
    }

    #[test]
    fn a_modulo_biased_digit_source_fails_the_position_check() {
        // The check must be able to fail: digits taken as `byte % 10` favour
        // 0–5 (26/256 against 25/256) and must exceed the critical value.
        let mut counts = [0u64; 10];
        let samples = 100_000u64;
        for i in 0..samples {
            counts[((i * 2_654_435_761) % 256 % 10) as usize] += 1;
        }
        let chi = chi_square(&counts, samples as f64 / 10.0);
        assert!(chi > CHI2_9DF_P1E4, "biased source passed with {chi:.2}");
    }

    #[test]
    fn whole_codes_are_uniform_chi_square() {
        // All 10,000 four-digit codes, 30 expected hits each (≥ 5 as the test needs).
        let samples = 300_000;
        let mut counts = vec![0u64; 10_000];
        for _ in 0..samples {
            let c = generate_otp(4).unwrap();
            counts[c.expose().parse::<usize>().unwrap()] += 1;
        }
        let chi = chi_square(&counts, samples as f64 / 10_000.0);
        // 9,999 degrees of freedom: mean 9,999, sd ≈ 141.4; 5 sd ≈ p 3e-7.
        assert!(chi < 9_999.0 + 5.0 * 141.4, "chi-square {chi:.1}");
        assert!(
            chi > 9_999.0 - 5.0 * 141.4,
            "suspiciously regular: {chi:.1}"
        );
    }
}
