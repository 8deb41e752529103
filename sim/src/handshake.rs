//! The server side of the Noise handshake: XX for first connects, IK for
//! reconnects of a client that cached our certificate chain.
//!
//! The transcript mirrors the initiator in wacore-noise exactly; both sides
//! must mix the same values in the same order or the AEAD tags fail.

use anyhow::{Context, anyhow};
use wacore::libsignal::protocol::KeyPair;
use wacore_binary::consts::{
    NOISE_PATTERN_IK, NOISE_PATTERN_XX, NOISE_PATTERN_XXFALLBACK, WA_CONN_HEADER,
};
use wacore_noise::{NoiseCipher, NoiseHandshake};
use waproto::buffa::{Message as _, MessageField};
use waproto::whatsapp as wa;

/// The simulator's long-lived Noise identity and the certificate chain that
/// vouches for it (structurally valid; the client is built with
/// `danger-skip-cert-chain-verify`).
pub struct ServerIdentity {
    /// Static Noise key pair; stable for the simulator's lifetime so IK works.
    pub static_kp: KeyPair,
    /// Serialized `CertChain` whose leaf key is `static_kp`'s public key.
    pub cert_chain: Vec<u8>,
}

impl ServerIdentity {
    /// Generates a fresh static key and its certificate chain.
    pub fn generate() -> Self {
        let static_kp = KeyPair::generate(&mut rand::make_rng::<rand::rngs::StdRng>());
        let cert_chain = wacore_noise::test_util::build_cert_chain_bytes(&static_pub(&static_kp));
        Self {
            static_kp,
            cert_chain,
        }
    }
}

fn static_pub(kp: &KeyPair) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(kp.public_key.public_key_bytes());
    out
}

fn to_32(bytes: &[u8], what: &str) -> anyhow::Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| anyhow!("{what} must be 32 bytes, got {}", bytes.len()))
}

/// What a finished handshake yields.
pub struct Established {
    /// Decrypts client frames.
    pub read: NoiseCipher,
    /// Encrypts server frames.
    pub write: NoiseCipher,
    /// The client's static Noise public key.
    pub client_static: [u8; 32],
    /// The client's `ClientPayload`.
    pub payload: wa::ClientPayload,
}

/// First step: the client's hello decides the pattern.
pub enum Hello {
    /// XX: the server hello is ready; feed the client finish to `XxPending::finish`.
    Xx(Box<XxPending>, Vec<u8>),
    /// IK: done after sending the server hello.
    Ik(Box<Established>, Vec<u8>),
}

/// XX state waiting for the client finish.
pub struct XxPending {
    noise: NoiseHandshake,
    server_eph: KeyPair,
}

/// Parses the client hello and builds the server hello.
pub fn respond_to_hello(server: &ServerIdentity, hello_frame: &[u8]) -> anyhow::Result<Hello> {
    let msg =
        wa::HandshakeMessage::decode_from_slice(hello_frame).context("decode client hello")?;
    let hello = msg
        .client_hello
        .into_option()
        .ok_or_else(|| anyhow!("handshake message without client hello"))?;
    let client_eph = to_32(
        hello
            .ephemeral
            .as_deref()
            .ok_or_else(|| anyhow!("client hello without ephemeral"))?,
        "client ephemeral",
    )?;
    let server_eph = KeyPair::generate(&mut rand::make_rng::<rand::rngs::StdRng>());

    if let (Some(enc_static), Some(enc_payload)) =
        (hello.r#static.as_deref(), hello.payload.as_deref())
    {
        match respond_ik(server, &client_eph, &server_eph, enc_static, enc_payload) {
            Ok((established, server_hello)) => {
                log::debug!("IK handshake accepted");
                return Ok(Hello::Ik(Box::new(established), server_hello));
            }
            // The client's cached static key is not ours (e.g. the simulator
            // restarted): answer XX-fallback so it recovers in this round
            // instead of retrying a doomed IK forever.
            Err(e) => {
                log::info!("IK hello rejected ({e:#}); answering XX fallback");
                return respond_xx(server, NOISE_PATTERN_XXFALLBACK, &client_eph, server_eph);
            }
        }
    }
    log::debug!("XX handshake");
    respond_xx(server, NOISE_PATTERN_XX, &client_eph, server_eph)
}

fn respond_ik(
    server: &ServerIdentity,
    client_eph: &[u8; 32],
    server_eph: &KeyPair,
    enc_static: &[u8],
    enc_payload: &[u8],
) -> anyhow::Result<(Established, Vec<u8>)> {
    let server_priv = server.static_kp.private_key.serialize();
    let server_eph_pub = static_pub(server_eph);
    let mut noise = NoiseHandshake::new(NOISE_PATTERN_IK, &WA_CONN_HEADER)?;
    noise.authenticate(&static_pub(&server.static_kp));
    noise.authenticate(client_eph);
    noise.mix_shared_secret(server_priv, client_eph)?;
    let client_static = to_32(&noise.decrypt(enc_static)?, "client static")?;
    noise.mix_shared_secret(server_priv, &client_static)?;
    let payload_bytes = noise.decrypt(enc_payload)?;
    noise.authenticate(&server_eph_pub);
    noise.mix_shared_secret(server_eph.private_key.serialize(), client_eph)?;
    noise.mix_shared_secret(server_eph.private_key.serialize(), &client_static)?;
    let enc_cert = noise.encrypt(&server.cert_chain)?;
    let hello = server_hello(server_eph_pub, None, enc_cert);
    let (first, second) = noise.finish()?;
    let payload =
        wa::ClientPayload::decode_from_slice(&payload_bytes).context("decode IK client payload")?;
    Ok((
        Established {
            read: first,
            write: second,
            client_static,
            payload,
        },
        hello,
    ))
}

fn respond_xx(
    server: &ServerIdentity,
    pattern: &str,
    client_eph: &[u8; 32],
    server_eph: KeyPair,
) -> anyhow::Result<Hello> {
    let server_eph_pub = static_pub(&server_eph);
    let mut noise = NoiseHandshake::new(pattern, &WA_CONN_HEADER)?;
    noise.authenticate(client_eph);
    noise.authenticate(&server_eph_pub);
    noise.mix_shared_secret(server_eph.private_key.serialize(), client_eph)?;
    let enc_static = noise.encrypt(&static_pub(&server.static_kp))?;
    noise.mix_shared_secret(server.static_kp.private_key.serialize(), client_eph)?;
    let enc_cert = noise.encrypt(&server.cert_chain)?;
    let hello = server_hello(server_eph_pub, Some(enc_static), enc_cert);
    Ok(Hello::Xx(Box::new(XxPending { noise, server_eph }), hello))
}

fn server_hello(eph: [u8; 32], enc_static: Option<Vec<u8>>, enc_payload: Vec<u8>) -> Vec<u8> {
    wa::HandshakeMessage {
        server_hello: MessageField::some(wa::handshake_message::ServerHello {
            ephemeral: Some(eph.to_vec()),
            r#static: enc_static,
            payload: Some(enc_payload),
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

impl XxPending {
    /// Consumes the client finish (its static key and payload).
    pub fn finish(mut self, finish_frame: &[u8]) -> anyhow::Result<Established> {
        let msg = wa::HandshakeMessage::decode_from_slice(finish_frame)
            .context("decode client finish")?;
        let finish = msg
            .client_finish
            .into_option()
            .ok_or_else(|| anyhow!("handshake message without client finish"))?;
        let enc_static = finish
            .r#static
            .as_deref()
            .ok_or_else(|| anyhow!("client finish without static"))?;
        let client_static = to_32(&self.noise.decrypt(enc_static)?, "client static")?;
        self.noise
            .mix_shared_secret(self.server_eph.private_key.serialize(), &client_static)?;
        let enc_payload = finish
            .payload
            .as_deref()
            .ok_or_else(|| anyhow!("client finish without payload"))?;
        let payload_bytes = self.noise.decrypt(enc_payload)?;
        let payload = wa::ClientPayload::decode_from_slice(&payload_bytes)
            .context("decode client payload")?;
        let (first, second) = self.noise.finish()?;
        Ok(Established {
            read: first,
            write: second,
            client_static,
            payload,
        })
    }
}
