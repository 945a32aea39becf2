//! The one outgoing HTTP client (webhook deliveries, OpenID Connect): HTTP/1.1, TLS through
//! rustls with the system's trust store (so an internal CA installed on the host is trusted), a
//! timeout per request, and a bounded read of the answer.

use axum::body::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::OnceLock;
use std::time::Duration;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What came back.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The answer's body (for webhook deliveries only its first bytes, for the log).
    pub body: String,
}

/// How much of an answer is kept.
const MAX_ANSWER: usize = 4096;

fn client() -> Result<&'static HttpsClient, String> {
    static CLIENT: OnceLock<Result<HttpsClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| format!("no TLS trust store: {e}"))?
                .https_or_http()
                .enable_http1()
                .build();
            Ok(Client::builder(TokioExecutor::new()).build(https))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// POST `body` to `url` with `headers`; an error is a transport failure (refused, TLS, timeout),
/// any HTTP status is an [`Answer`] (its body cut to a few KiB, for logs).
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Answer, String> {
    let mut a = request(hyper::Method::POST, url, headers, body, timeout).await?;
    if a.body.len() > MAX_ANSWER {
        let mut end = MAX_ANSWER;
        while !a.body.is_char_boundary(end) {
            end -= 1;
        }
        a.body.truncate(end);
    }
    Ok(a)
}

/// GET `url` (answers up to 1 MiB).
pub async fn get(
    url: &str,
    headers: &[(&str, String)],
    timeout: Duration,
) -> Result<Answer, String> {
    request(hyper::Method::GET, url, headers, vec![], timeout).await
}

/// Any request; the answer's body is read up to 1 MiB.
pub async fn request(
    method: hyper::Method,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Answer, String> {
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("invalid request: {e}"))?;
    let client = client()?;
    let res = tokio::time::timeout(timeout, client.request(req))
        .await
        .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
        .map_err(|e| describe(&e))?;
    let status = res.status().as_u16();
    // The answer's body is read only so far, and not waited on for long.
    let body = match tokio::time::timeout(
        Duration::from_secs(10),
        Limited::new(res.into_body(), 1 << 20).collect(),
    )
    .await
    {
        Ok(Ok(b)) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        _ => String::new(),
    };
    Ok(Answer { status, body })
}

/// A transport error with its causes, e.g. "client error (Connect): tcp connect error: Connection refused".
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
