//! What may be shown of a value that can carry a secret.

/// `url` with its user info (`user:password@`) replaced by `***@`, for
/// errors and logs: they name the server, never its credentials.
///
/// Everything between `scheme://` and the last `@` is user info: a
/// password with an unescaped `@` is still hidden whole.
pub fn url_without_credentials(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        // Not a URL with an authority; it may still be `user:pass@host`.
        return match url.rfind('@') {
            Some(at) => format!("***{}", &url[at..]),
            None => url.to_owned(),
        };
    };
    match url[start..].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            ("redis://:s3cret@db:6379/0", "redis://***@db:6379/0"),
            ("rediss://app:s3cret@db:6380", "rediss://***@db:6380"),
            ("redis://app:p@ss@db/1", "redis://***@db/1"),
            ("app:s3cret@db", "***@db"),
            ("", ""),
        ] {
            let out = url_without_credentials(url);
            assert_eq!(out, shown);
            assert!(!out.contains("s3cret") && !out.contains("p@ss"));
        }
    }
}
