//! Kubernetes resource quantities: whether a text is one (the API server's grammar), and, as
//! far as sizing a quota needs, parsing to milli-units and printing back in the usual unit.
//! Also the grammar of a port name, which the same checks need, and of a label selector
//! (`env in (prod),team=ml,!legacy`), which the demo server and `--namespace-selector` read.

/// `[+-](digits[.digits]|.digits)[suffix]`, the suffix `Ki…Ei`, `n u m k M G T P E` or an
/// exponent `e[+-]number`: Kubernetes' quantity grammar.
pub fn is_quantity(s: &str) -> bool {
    fn number(s: &str) -> Option<&str> {
        let int = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let rest = &s[int..];
        match rest.strip_prefix('.') {
            Some(frac) => {
                let f = frac.len() - frac.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                (int > 0 || f > 0).then_some(&frac[f..])
            }
            None => (int > 0).then_some(rest),
        }
    }
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let Some(suffix) = number(s) else { return false };
    match suffix {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
        "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
        e => e.strip_prefix(['e', 'E']).is_some_and(|exp| {
            let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            number(exp) == Some("")
        }),
    }
}

/// An IANA service name, as a named `targetPort` must be: at most 15 characters of `a-z`,
/// `0-9` and `-`, at least one letter, no `-` at either end or twice in a row.
pub fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && s.bytes().any(|b| b.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Parses `500m`, `2`, `1.5`, `4Gi`, `512Mi`, `1G`, `1e3` into milli-units (1 = 1000).
pub fn parse_milli(q: &str) -> Option<u128> {
    let q = q.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    if num.is_empty() {
        return None;
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if frac.contains('.') {
        return None;
    }
    // value × 1000 as an exact integer: int·1000 + first three fraction digits (rounded up).
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut milli = int.checked_mul(1000)?;
    let digits: Vec<u32> = frac.chars().map(|c| c.to_digit(10)).collect::<Option<_>>()?;
    for (i, d) in digits.iter().take(3).enumerate() {
        milli += u128::from(*d) * 10u128.pow(2 - i as u32);
    }
    let rest_nonzero = digits.iter().skip(3).any(|d| *d != 0);
    let mult: u128 = match suffix {
        "" => 1,
        "m" => return Some(int + u128::from(digits.iter().any(|d| *d != 0))),
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        s if s.starts_with(['e', 'E']) => 10u128.checked_pow(s[1..].parse().ok()?)?,
        _ => return None,
    };
    milli.checked_mul(mult).map(|m| m + u128::from(rest_nonzero))
}

/// CPU in milli-cores as Kubernetes would print it: `12` or `12500m`.
pub fn format_cpu(milli: u128) -> String {
    if milli.is_multiple_of(1000) {
        format!("{}", milli / 1000)
    } else {
        format!("{milli}m")
    }
}

/// Bytes (given in milli-bytes) rounded up to `Mi`, printed as `Gi` when whole.
pub fn format_bytes(milli: u128) -> String {
    let bytes = milli.div_ceil(1000);
    let mi = bytes.div_ceil(1 << 20);
    if mi.is_multiple_of(1024) {
        format!("{}Gi", mi / 1024)
    } else {
        format!("{mi}Mi")
    }
}

/// A count (GPUs): whole units, rounded up.
pub fn format_count(milli: u128) -> String {
    format!("{}", milli.div_ceil(1000))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quantities_as_kubernetes_reads_them() {
        for ok in ["1", "500m", "1.5", "2Gi", "512Mi", "1e3", "1E3", "+1", ".5", "1.", "-1", "1e-3"]
        {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["1x", "Gi", "", "1.5.5", "1ki", ".", "e3", "1e", "1 Gi", "1Gb"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn port_names() {
        assert!(is_port_name("dashboard") && is_port_name("gcs-server") && is_port_name("h2c"));
        for bad in ["8265", "-a", "a-", "a--b", "Dashboard", "averyveryverylongname"] {
            assert!(!is_port_name(bad), "{bad}");
        }
    }

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse_milli("500m"), Some(500));
        assert_eq!(parse_milli("2"), Some(2000));
        assert_eq!(parse_milli("1.5"), Some(1500));
        assert_eq!(parse_milli("4Gi"), Some(4 * (1 << 30) * 1000));
        assert_eq!(parse_milli("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_milli("1e3"), Some(1_000_000));
        assert_eq!(parse_milli("0.5Gi"), Some(512 * (1 << 20) * 1000));
        assert_eq!(parse_milli("x"), None);
        assert_eq!(parse_milli("1Xi"), None);
        assert_eq!(parse_milli(""), None);
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_cpu(12_000), "12");
        assert_eq!(format_cpu(12_500), "12500m");
        assert_eq!(format_bytes(parse_milli("8Gi").unwrap_or(0)), "8Gi");
        assert_eq!(format_bytes(parse_milli("1.2Gi").unwrap_or(0)), "1229Mi");
        assert_eq!(format_count(1200), "2");
    }
}

/// One requirement of a label selector, as kubectl and the API server write them.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 316
        && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && k.matches('/').count() <= 1
}

fn set_values(rest: &str) -> Result<Vec<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised set of values, got {rest:?}"))?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

/// A label selector's requirements (none for the empty selector).
pub fn parse_label_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut reqs = Vec::new();
    for part in split_top(s) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let req = if let Some(k) = part.strip_prefix('!') {
            Requirement::NotExists(k.trim().to_string())
        } else if let Some((k, v)) = part.split_once("!=") {
            Requirement::NotEq(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, v)) = part.split_once("==") {
            Requirement::Eq(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, v)) = part.split_once('=') {
            Requirement::Eq(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, rest)) = part.split_once(" notin ") {
            Requirement::NotIn(k.trim().to_string(), set_values(rest)?)
        } else if let Some((k, rest)) = part.split_once(" in ") {
            Requirement::In(k.trim().to_string(), set_values(rest)?)
        } else {
            Requirement::Exists(part.to_string())
        };
        let key = match &req {
            Requirement::Eq(k, _)
            | Requirement::NotEq(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::NotExists(k) => k,
        };
        if !valid_key(key) {
            return Err(format!("unable to parse requirement: invalid label key {key:?}"));
        }
        reqs.push(req);
    }
    Ok(reqs)
}
