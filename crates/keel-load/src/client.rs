//! One keep-alive HTTP/1.1 connection per client task, made with hyper's low-level
//! `client::conn::http1` handshake over a tokio `TcpStream` (no pool, no DNS, no TLS).
//! A broken or closed connection is replaced on the next request.

use crate::target::Target;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

pub enum Outcome {
    /// The server answered; status and the whole body.
    Response(StatusCode, Bytes),
    /// No answer: connect failure, broken connection or timeout. The text is a short label.
    Transport(String),
}

pub struct Client {
    target: Arc<Target>,
    host: HeaderValue,
    auth: HeaderValue,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections this client opened (1 in a healthy run).
    pub connects: u64,
}

impl Client {
    pub fn new(target: Arc<Target>, token: &str, timeout: Duration) -> Result<Self, String> {
        let host =
            HeaderValue::from_str(&target.authority).map_err(|_| "--url: bad host".to_string())?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "--token: not a valid header value".to_string())?;
        auth.set_sensitive(true);
        Ok(Self {
            target,
            host,
            auth,
            timeout,
            sender: None,
            connects: 0,
        })
    }

    async fn connect(&mut self) -> Result<(), String> {
        let stream = tokio::time::timeout(self.timeout, TcpStream::connect(&self.target.addrs[..]))
            .await
            .map_err(|_| "connect timeout".to_string())?
            .map_err(|e| format!("connect: {}", e.kind()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("connect: {}", e.kind()))?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            // Ends when the server closes the connection or the sender is dropped.
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    /// Send one request and read the whole response, within the timeout.
    /// `path` is the path and query below the target's base.
    pub async fn send(&mut self, method: Method, path: &str, body: Option<Bytes>) -> Outcome {
        let live = match self.sender.as_mut() {
            Some(s) => !s.is_closed() && s.ready().await.is_ok(),
            None => false,
        };
        if !live {
            self.sender = None;
            if let Err(e) = self.connect().await {
                return Outcome::Transport(e);
            }
        }
        let mut req = Request::builder()
            .method(method)
            .uri(self.target.path(path));
        if let Some(h) = req.headers_mut() {
            h.insert(HOST, self.host.clone());
            h.insert(AUTHORIZATION, self.auth.clone());
            h.insert(ACCEPT, HeaderValue::from_static("application/json"));
            if body.is_some() {
                h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
        }
        let req = match req.body(Full::new(body.unwrap_or_default())) {
            Ok(r) => r,
            Err(e) => return Outcome::Transport(format!("bad request: {e}")),
        };
        let Some(sender) = self.sender.as_mut() else {
            return Outcome::Transport("no connection".into());
        };
        let exchange = async {
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, bytes))
        };
        let result = tokio::time::timeout(self.timeout, exchange).await;
        match result {
            Ok(Ok((status, bytes))) => Outcome::Response(status, bytes),
            Ok(Err(e)) => {
                self.sender = None;
                Outcome::Transport(label(&e))
            }
            Err(_) => {
                // The connection may still deliver the late response; start afresh.
                self.sender = None;
                Outcome::Transport("timeout".into())
            }
        }
    }
}

fn label(e: &hyper::Error) -> String {
    if e.is_incomplete_message() || e.is_closed() || e.is_canceled() {
        "connection closed".into()
    } else if e.is_parse() {
        "bad response".into()
    } else if e.is_timeout() {
        "timeout".into()
    } else if let Some(io) =
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<std::io::Error>())
    {
        format!("io: {}", io.kind())
    } else {
        format!("http: {e}").chars().take(80).collect()
    }
}
