//! Transport framing for one client connection: WebSocket binary messages
//! carrying the WA header once, then 3-byte length-prefixed frames; after the
//! Noise handshake every frame is AES-256-GCM with per-direction counters and
//! carries one flag byte plus a binary node.

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio_websockets::Message;
use wacore::framing::{FrameDecoder, encode_frame};
use wacore_binary::consts::WA_CONN_HEADER;
use wacore_binary::{Node, marshal::marshal, marshal::unmarshal_ref, util::unpack};
use wacore_noise::NoiseCipher;

/// Reads whole frames from the client side of a WebSocket.
pub struct FrameReader<S> {
    stream: S,
    decoder: FrameDecoder,
    header_checked: bool,
    pending: Vec<u8>,
}

impl<S> FrameReader<S>
where
    S: futures_util::Stream<Item = Result<Message, tokio_websockets::Error>> + Unpin,
{
    /// Wraps the read half of a WebSocket.
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            decoder: FrameDecoder::new(),
            header_checked: false,
            pending: Vec::new(),
        }
    }

    /// Returns the next frame payload, or `None` when the socket closed.
    /// Cancel-safe: the only await point is the socket read.
    pub async fn next_frame(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        loop {
            if self.header_checked
                && let Some(frame) = self.decoder.decode_frame()
            {
                return Ok(Some(frame.to_vec()));
            }
            let Some(message) = self.stream.next().await else {
                return Ok(None);
            };
            let message = message.context("websocket read")?;
            if message.is_close() {
                return Ok(None);
            }
            if !message.is_binary() {
                continue;
            }
            let payload: &[u8] = message.as_payload();
            if self.header_checked {
                self.decoder.feed(payload);
            } else {
                // The client's first bytes start with the 4-byte WA header;
                // collect until we can check and strip it.
                self.pending.extend_from_slice(payload);
                if self.pending.len() < WA_CONN_HEADER.len() {
                    continue;
                }
                if !self.pending.starts_with(&WA_CONN_HEADER) {
                    bail!("client did not send the WA connection header");
                }
                self.decoder.feed(&self.pending[WA_CONN_HEADER.len()..]);
                self.pending.clear();
                self.header_checked = true;
            }
        }
    }
}

/// Sends one frame as one binary WebSocket message.
pub async fn write_frame<S>(sink: &mut S, payload: &[u8]) -> anyhow::Result<()>
where
    S: futures_util::Sink<Message, Error = tokio_websockets::Error> + Unpin,
{
    let framed = encode_frame(payload, None)?;
    sink.send(Message::binary(framed))
        .await
        .context("websocket write")?;
    Ok(())
}

/// Decrypts frames from the client (the handshake's first key).
pub struct ReadCipher {
    cipher: NoiseCipher,
    counter: u32,
}

impl ReadCipher {
    /// Wraps the responder's read key.
    pub fn new(cipher: NoiseCipher) -> Self {
        Self { cipher, counter: 0 }
    }

    /// Decrypts one frame and decodes the node inside it.
    pub fn open(&mut self, frame: Vec<u8>) -> anyhow::Result<Node> {
        let mut buf = frame;
        self.cipher
            .decrypt_in_place_with_counter(self.counter, &mut buf)
            .map_err(|e| anyhow::anyhow!("frame decrypt failed: {e}"))?;
        self.counter = self.counter.wrapping_add(1);
        let unpacked = unpack(&buf).map_err(|e| anyhow::anyhow!("unpack: {e}"))?;
        let node = unmarshal_ref(&unpacked)
            .map_err(|e| anyhow::anyhow!("unmarshal: {e}"))?
            .to_owned();
        Ok(node)
    }
}

/// Encrypts frames to the client (the handshake's second key).
pub struct WriteCipher {
    cipher: NoiseCipher,
    counter: u32,
}

impl WriteCipher {
    /// Wraps the responder's write key.
    pub fn new(cipher: NoiseCipher) -> Self {
        Self { cipher, counter: 0 }
    }

    /// Encodes a node (marshal writes the zero flag byte) and encrypts it.
    pub fn seal(&mut self, node: &Node) -> anyhow::Result<Vec<u8>> {
        let plain = marshal(node).map_err(|e| anyhow::anyhow!("marshal: {e}"))?;
        let sealed = self
            .cipher
            .encrypt_with_counter(self.counter, &plain)
            .map_err(|e| anyhow::anyhow!("frame encrypt failed: {e}"))?;
        self.counter = self.counter.wrapping_add(1);
        Ok(sealed)
    }
}

/// Convenience: sends a sealed node on a sink.
pub async fn send_node<S>(sink: &mut S, cipher: &mut WriteCipher, node: &Node) -> anyhow::Result<()>
where
    S: futures_util::Sink<Message, Error = tokio_websockets::Error> + Unpin,
{
    let sealed = cipher.seal(node)?;
    write_frame(sink, &sealed).await
}
