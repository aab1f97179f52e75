//! `Content-Disposition` for a download name (`?filename=`, RFC 6266 and RFC 5987): the nginx
//! module and the edge write it the same way, never open to header injection.

/// `Content-Disposition` for `?filename=`: never a header injection. ASCII printable names go in a
/// quoted string with `"` and `\` escaped; anything else (non-ASCII, controls) gets an ASCII fallback
/// plus RFC 5987 `filename*=UTF-8''…`.
pub fn content_disposition(name: &str) -> String {
    let plain = name.bytes().all(|b| (0x20..0x7f).contains(&b));
    let mut fallback = String::with_capacity(name.len() + 2);
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                fallback.push('\\');
                fallback.push(c);
            }
            c if (' '..='~').contains(&c) => fallback.push(c),
            _ => fallback.push('_'),
        }
    }
    if plain {
        return format!("attachment; filename=\"{fallback}\"");
    }
    let mut ext = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            ext.push(b as char);
        } else {
            ext.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_is_safe() {
        assert_eq!(
            content_disposition("report.pdf"),
            "attachment; filename=\"report.pdf\""
        );
        assert_eq!(
            content_disposition("a\"b\\c"),
            "attachment; filename=\"a\\\"b\\\\c\""
        );
        let d = content_disposition("x\r\nSet-Cookie: a=b");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.contains("filename*=UTF-8''x%0D%0ASet-Cookie%3A%20a%3Db"));
        let d = content_disposition("résumé.pdf");
        assert!(d.contains("filename=\"r_sum_.pdf\""), "{d}");
        assert!(d.contains("filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"), "{d}");
    }
}
