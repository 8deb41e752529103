//! The WebSocket connection to WhatsApp, dialed with Nagle's algorithm off.
//!
//! whatsapp-rust's own factory dials with the operating system's default
//! socket options. The client writes many small frames (acks, receipts, then
//! a request). With Nagle on, a frame written while an earlier one is still
//! unacknowledged waits for the server's ACK, which the server delays (40 ms
//! on Linux) because it has nothing to send back yet. Measured against the
//! simulator, every `send_message` sat out that delay: 44 ms per send, of
//! which 40 ms idle. A latency-bound protocol wants `TCP_NODELAY`, so this
//! factory dials the socket itself, sets it, and hands the upgraded WebSocket
//! to whatsapp-rust's transport (`from_websocket`), which does the rest as
//! before. TLS uses whatsapp-rust's connector, so certificate checks are the
//! same as its default factory's.

use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use tokio::net::TcpStream;
use whatsapp_rust::async_channel::Receiver;
use whatsapp_rust::transport::{
    Connector, Transport, TransportEvent, TransportFactory, default_tls_connector, from_websocket,
};

/// WhatsApp Web's endpoint; used unless a sandbox build overrides it.
const WHATSAPP_WEB_WS_URL: &str = "wss://web.whatsapp.com/ws/chat";
/// The `Origin` WhatsApp expects on the upgrade, whoever is dialed (the same
/// as whatsapp-rust's default factory sends).
const WHATSAPP_WEB_ORIGIN: &str = "https://web.whatsapp.com";

/// Dials `url` with `TCP_NODELAY` for each (re)connect of a session's client.
pub(crate) struct NoDelayTransportFactory {
    url: String,
}

impl NoDelayTransportFactory {
    /// WhatsApp's endpoint, or `endpoint` (already checked by the gateway).
    pub(crate) fn new(endpoint: Option<&str>) -> Self {
        NoDelayTransportFactory {
            url: endpoint.unwrap_or(WHATSAPP_WEB_WS_URL).to_owned(),
        }
    }
}

#[async_trait]
impl TransportFactory for NoDelayTransportFactory {
    async fn create_transport(
        &self,
    ) -> Result<(Arc<dyn Transport>, Receiver<TransportEvent>), anyhow::Error> {
        let target = DialTarget::parse(&self.url)?;
        let (host, port) = (target.host.as_str(), target.port);
        let tcp = TcpStream::connect((host, port))
            .await
            .with_context(|| format!("connecting to {host}:{port}"))?;
        tcp.set_nodelay(true).context("setting TCP_NODELAY")?;
        let connector = if target.tls {
            default_tls_connector()
        } else {
            Connector::Plain
        };
        let stream = connector
            .wrap(host, tcp)
            .await
            .with_context(|| format!("TLS handshake with {host}"))?;
        let (ws, _) = tokio_websockets::ClientBuilder::from_uri(target.uri)
            .add_header(
                http::header::ORIGIN,
                http::HeaderValue::from_static(WHATSAPP_WEB_ORIGIN),
            )?
            .connect_on(stream)
            .await
            .context("WebSocket upgrade")?;
        Ok(from_websocket(ws))
    }
}

/// Where a WebSocket URL says to dial.
#[derive(Debug)]
struct DialTarget {
    uri: http::Uri,
    tls: bool,
    host: String,
    port: u16,
}

impl DialTarget {
    fn parse(url: &str) -> Result<Self, anyhow::Error> {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("endpoint {url:?} is not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            other => bail!("endpoint scheme {other:?} is not ws or wss"),
        };
        // `Uri::host` keeps the brackets of an IPv6 literal; dialing wants them off.
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("endpoint {url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(DialTarget {
            uri,
            tls,
            host,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_is_dialed_over_tls_on_443() {
        let t = DialTarget::parse(&NoDelayTransportFactory::new(None).url).unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("web.whatsapp.com", 443));
        assert_eq!(t.uri.path(), "/ws/chat");
    }

    #[test]
    fn loopback_endpoints_and_ipv6_literals() {
        let t = DialTarget::parse("ws://127.0.0.1:4567/ws/chat").unwrap();
        assert!(!t.tls);
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 4567));
        let t = DialTarget::parse("ws://[::1]/ws/chat").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
    }

    #[test]
    fn other_schemes_and_garbage_are_errors() {
        for bad in ["http://127.0.0.1/ws", "not a url", "/ws/chat", ""] {
            assert!(DialTarget::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
