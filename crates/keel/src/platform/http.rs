//! The one outgoing HTTP client (webhook deliveries): HTTP/1.1, TLS through rustls with the
//! system's trust store (so an internal CA installed on the host is trusted), a timeout per
//! request, and a bounded read of the answer.

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
    /// The first bytes of the answer's body (for the delivery log).
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
/// any HTTP status is an [`Answer`].
pub async fn post(
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Answer, String> {
    let mut req = hyper::Request::post(url);
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
    // The answer's body is read only as far as the log keeps it, and not waited on for long.
    let body = match tokio::time::timeout(
        Duration::from_secs(5),
        Limited::new(res.into_body(), 1 << 20).collect(),
    )
    .await
    {
        Ok(Ok(b)) => {
            let bytes = b.to_bytes();
            String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ANSWER)]).into_owned()
        }
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
