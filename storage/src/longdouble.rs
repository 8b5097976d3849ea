//! INCRBYFLOAT / HINCRBYFLOAT arithmetic.
//!
//! Redis computes these in C `long double` (x87 80-bit extended precision
//! on x86-64) and prints the result with `%.17Lf`, trailing zeros removed.
//! Replies must match byte for byte, so this module reproduces that
//! arithmetic. (Current body: a provisional f64 version; see tests.)

/// Why an increment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrFloatError {
    /// The current value is not a valid float.
    NotFloat,
    /// The result would be NaN or infinite.
    NanOrInfinity,
}

/// Parses `current` and `incr` as Redis does (`string2ld`), adds them in
/// extended precision, and formats the sum as Redis stores it.
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let a = parse(current).ok_or(IncrFloatError::NotFloat)?;
    let b = parse(incr).ok_or(IncrFloatError::NotFloat)?;
    let sum = a + b;
    if !sum.is_finite() {
        return Err(IncrFloatError::NanOrInfinity);
    }
    Ok(format_human(sum).into_bytes())
}

/// `string2ld`: no leading space, whole string consumed, no NaN.
pub fn parse(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 5 * 1024 || s[0].is_ascii_whitespace() {
        return None;
    }
    let v: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    if v.is_nan() {
        None
    } else {
        Some(v)
    }
}

/// `%.17Lf` with trailing zeros (and a trailing dot) removed.
fn format_human(v: f64) -> String {
    let s = format!("{v:.17}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}
