//! The one server keel-load may talk to: an `http://` URL on the loopback interface.
//! Anything else is refused before a single packet is sent.

use hyper::Uri;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Debug, Clone)]
pub struct Target {
    /// Loopback addresses to connect to, tried in order.
    pub addrs: Vec<SocketAddr>,
    /// The `Host` header: the URL's authority as given.
    pub authority: String,
    /// Path prefix from the URL without a trailing slash ("" for the root).
    pub base: String,
}

impl Target {
    pub fn path(&self, p: &str) -> String {
        format!("{}{}", self.base, p)
    }
}

/// Parse and check `url`. Only `http` to 127.0.0.1, localhost or ::1 is accepted; a name
/// (`localhost`) is resolved and every address it yields must be a loopback address.
pub async fn resolve(url: &str) -> Result<Target, String> {
    let (host, port, authority, base) = parse(url)?;
    let addrs = match host.as_str() {
        "127.0.0.1" => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)],
        "::1" => vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)],
        "localhost" => {
            let found: Vec<SocketAddr> = tokio::net::lookup_host(("localhost", port))
                .await
                .map_err(|e| format!("--url: cannot resolve localhost: {e}"))?
                .collect();
            if found.is_empty() || found.iter().any(|a| !a.ip().is_loopback()) {
                return Err(format!(
                    "--url: localhost resolves to {found:?}, not only loopback addresses; use 127.0.0.1"
                ));
            }
            found
        }
        other => return Err(format!("--url: host `{other}` refused")),
    };
    Ok(Target {
        addrs,
        authority,
        base,
    })
}

/// (host without brackets, port, authority, base path)
fn parse(url: &str) -> Result<(String, u16, String, String), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("--url: `{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "--url: scheme `{other}` is not supported; use http://"
            ));
        }
        None => {
            return Err(format!(
                "--url: `{url}` has no scheme; use http://127.0.0.1:PORT"
            ));
        }
    }
    let auth = uri
        .authority()
        .ok_or_else(|| format!("--url: `{url}` has no host"))?;
    if auth.as_str().contains('@') {
        return Err("--url: user information in the URL is not supported".into());
    }
    let host = auth
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1") {
        return Err(format!(
            "--url: host `{host}` refused: keel-load only targets 127.0.0.1, localhost or ::1"
        ));
    }
    if uri.query().is_some() {
        return Err("--url: must not carry a query string".into());
    }
    let port = auth.port_u16().unwrap_or(80);
    let base = uri.path().trim_end_matches('/').to_string();
    Ok((host, port, auth.as_str().to_string(), base))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn loopback_only() {
        let ok = |u: &str| parse(u);
        assert_eq!(
            ok("http://127.0.0.1:18080").ok(),
            Some((
                "127.0.0.1".into(),
                18080,
                "127.0.0.1:18080".into(),
                "".into()
            ))
        );
        assert_eq!(
            ok("http://localhost:8080/").ok().map(|t| t.3),
            Some("".into())
        );
        assert_eq!(
            ok("http://[::1]:9000/keel/").ok().map(|t| (t.0, t.3)),
            Some(("::1".into(), "/keel".into()))
        );
        assert_eq!(ok("http://127.0.0.1").ok().map(|t| t.1), Some(80));
        for bad in [
            "http://10.0.0.1:8080",
            "http://127.0.0.2:8080",
            "http://example.com",
            "http://localhost.example.com:80",
            "https://127.0.0.1:8443",
            "127.0.0.1:8080",
            "http://user@127.0.0.1:8080",
            "http://127.0.0.1:8080/?x=1",
            "http://[::2]:8080",
            "http://192.168.1.1",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
