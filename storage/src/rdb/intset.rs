//! Intset: Redis's sorted array of integers for small integer sets.
//!
//! ```text
//! <encoding u32 LE: 2, 4 or 8 bytes per element> <length u32 LE> <elements LE, ascending>
//! ```

/// Encodes sorted, distinct integers with the smallest element width.
pub fn encode(values: &[i64]) -> Vec<u8> {
    let width: u32 = if values.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if values.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + values.len() * width as usize);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// Decodes and validates an intset: known width, exact size, strictly
/// ascending elements (Redis's `intsetValidateIntegrity` with deep checks).
pub fn decode(b: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    let len = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8)
        || len == 0
        || b.len() != 8usize.checked_add(len.checked_mul(width)?)?
    {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    for chunk in b[8..].chunks_exact(width) {
        let v = match width {
            2 => i64::from(i16::from_le_bytes(chunk.try_into().ok()?)),
            4 => i64::from(i32::from_le_bytes(chunk.try_into().ok()?)),
            _ => i64::from_le_bytes(chunk.try_into().ok()?),
        };
        if out.last().is_some_and(|&last| last >= v) {
            return None;
        }
        out.push(v);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_validation() {
        for vals in [
            vec![1i64, 2, 3],
            vec![-40000, 5],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let e = super::encode(&vals);
            assert_eq!(super::decode(&e), Some(vals));
        }
        let bad = super::encode(&[1, 2]);
        let mut swapped = bad.clone();
        swapped[8..10].copy_from_slice(&5i16.to_le_bytes());
        assert_eq!(super::decode(&swapped), None);
        assert_eq!(super::decode(&bad[..bad.len() - 1]), None);
    }
}
