//! Glob-style matching with Redis's `stringmatchlen` syntax:
//! `*`, `?`, `[abc]`, `[^abc]`, `[a-z]` and `\x` escapes.
//!
//! The matcher is iterative: on a mismatch it backtracks only to the most
//! recent `*`, so time is O(pattern * subject) in the worst case and the
//! stack never grows with the pattern (`a*a*a*...b` and `*?` x 50000 are
//! safe).

/// Result of matching one single-character token of the pattern.
struct Token {
    matched: bool,
    /// Index in the pattern just past the token.
    next: usize,
}

fn fold(c: u8, nocase: bool) -> u8 {
    if nocase {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Matches the token at `pattern[p]` (not `*`) against byte `c`.
fn match_token(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> Token {
    let c = fold(c, nocase);
    match pattern[p] {
        b'?' => Token {
            matched: true,
            next: p + 1,
        },
        b'[' => {
            p += 1;
            let negate = pattern.get(p) == Some(&b'^');
            if negate {
                p += 1;
            }
            let mut matched = false;
            loop {
                match pattern.get(p) {
                    None => break,
                    Some(b']') => {
                        p += 1;
                        break;
                    }
                    Some(b'\\') if p + 1 < pattern.len() => {
                        if fold(pattern[p + 1], nocase) == c {
                            matched = true;
                        }
                        p += 2;
                    }
                    Some(&start) if p + 2 < pattern.len() && pattern[p + 1] == b'-' => {
                        let (mut lo, mut hi) = (fold(start, nocase), fold(pattern[p + 2], nocase));
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        if c >= lo && c <= hi {
                            matched = true;
                        }
                        p += 3;
                    }
                    Some(&lit) => {
                        if fold(lit, nocase) == c {
                            matched = true;
                        }
                        p += 1;
                    }
                }
            }
            Token {
                matched: matched != negate,
                next: p,
            }
        }
        b'\\' if p + 1 < pattern.len() => Token {
            matched: fold(pattern[p + 1], nocase) == c,
            next: p + 2,
        },
        lit => Token {
            matched: fold(lit, nocase) == c,
            next: p + 1,
        },
    }
}

/// True if `subject` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    let (mut p, mut s) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after the star,
    // subject index the star currently absorbs up to).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, s));
            continue;
        }
        if s == subject.len() {
            // Only trailing stars may remain.
            return pattern[p..].iter().all(|&b| b == b'*');
        }
        if p < pattern.len() {
            let t = match_token(pattern, p, subject[s], nocase);
            if t.matched {
                p = t.next;
                s += 1;
                continue;
            }
        }
        match star {
            Some((sp, ss)) => {
                // Let the star absorb one more byte and retry.
                star = Some((sp, ss + 1));
                p = sp;
                s = ss + 1;
                if s > subject.len() {
                    return false;
                }
            }
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn basics() {
        assert!(m(b"*", b"", false));
        assert!(m(b"h?llo", b"hello", false));
        assert!(m(b"h*llo", b"heeeello", false));
        assert!(m(b"h[ae]llo", b"hallo", false));
        assert!(!m(b"h[^e]llo", b"hello", false));
        assert!(m(b"h[a-b]llo", b"hbllo", false));
        assert!(m(b"h[b-a]llo", b"hbllo", false));
        assert!(m(b"h\\*llo", b"h*llo", false));
        assert!(!m(b"h\\*llo", b"hello", false));
        assert!(m(b"HELLO", b"hello", true));
        assert!(!m(b"a", b"", false));
        assert!(m(b"a*b*c", b"axxbyyc", false));
        assert!(!m(b"a*b*c", b"axxbyy", false));
        assert!(m(b"*.txt", b"a.b.txt", false));
        assert!(m(b"[abc", b"a", false));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        let pattern: Vec<u8> = b"a*".repeat(5000).into_iter().chain(*b"b").collect();
        let subject = vec![b'a'; 10_000];
        let t = std::time::Instant::now();
        assert!(!m(&pattern, &subject, false));
        let pattern2 = b"*?".repeat(50_000);
        assert!(!m(&pattern2, &subject, false));
        assert!(t.elapsed().as_secs() < 5);
    }
}
