//! Routing by path pattern and method.

/// The host a request names: `:authority`/absolute-form authority or the
/// `Host` header, without the port. Case is left as sent.
pub(crate) fn request_host(parts: &http::request::Parts) -> Option<&str> {
    let raw = match parts.uri.authority() {
        Some(a) => a.as_str(),
        None => parts.headers.get(http::header::HOST)?.to_str().ok()?,
    };
    Some(strip_port(raw))
}

/// `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
pub(crate) fn strip_port(host: &str) -> &str {
    // Drop userinfo, if an absolute-form target carried one.
    let host = host.rsplit('@').next().unwrap_or(host);
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rfind(':') {
        Some(i) => &host[..i],
        None => host,
    }
}
