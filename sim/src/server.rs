//! The WebSocket listener and the life of one client connection:
//! handshake, login or registration, then a read loop dispatching stanzas.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_websockets::{Limits, ServerBuilder};
use wacore_binary::Node;
use wacore_binary::builder::NodeBuilder;

use crate::conn::{FrameReader, ReadCipher, WriteCipher, send_node, write_frame};
use crate::faults::{FaultHit, query_context};
use crate::handshake::{Established, Hello, respond_to_hello};
use crate::iq::attr;
use crate::state::{ConnHandle, Out, Shared, lock, now_secs};
use crate::wire::{self, tag, val};

/// How long a client may take to finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Accepts connections until the listener errors or `stop` fires.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection(shared, tcp).await {
                            log::debug!("connection ended: {e:#}");
                        }
                    });
                }
                Err(e) => {
                    log::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

async fn connection(shared: Arc<Shared>, tcp: TcpStream) -> anyhow::Result<()> {
    let _ = tcp.set_nodelay(true);
    let (request, ws) = ServerBuilder::new()
        .limits(Limits::unlimited())
        .accept(tcp)
        .await
        .context("websocket upgrade")?;
    if request.uri().path() != wire::WS_PATH {
        anyhow::bail!("unexpected path {}", request.uri().path());
    }
    let (mut sink, stream) = ws.split();
    let mut reader = FrameReader::new(stream);

    let established = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let hello = reader
            .next_frame()
            .await?
            .ok_or_else(|| anyhow!("closed before client hello"))?;
        match respond_to_hello(&shared.server, &hello)? {
            Hello::Ik(est, server_hello) => {
                write_frame(&mut sink, &server_hello).await?;
                anyhow::Ok(*est)
            }
            Hello::Xx(pending, server_hello) => {
                write_frame(&mut sink, &server_hello).await?;
                let finish = reader
                    .next_frame()
                    .await?
                    .ok_or_else(|| anyhow!("closed before client finish"))?;
                pending.finish(&finish)
            }
        }
    })
    .await
    .context("handshake timed out")??;
    let Established {
        read,
        write,
        client_static,
        payload,
    } = established;
    let mut read = ReadCipher::new(read);
    let mut write = WriteCipher::new(write);

    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let (kill_tx, mut kill_rx) = watch::channel(false);
    let conn = Arc::new(ConnHandle {
        id: shared.next_id(),
        tx,
        kill: kill_tx,
        client_static,
        login: Mutex::new(None),
        pending: Mutex::new(HashMap::new()),
        idle_load_owed: Default::default(),
        offline_marker_sent: watch::channel(false).0,
    });
    shared.lock().conns.insert(conn.id, conn.clone());

    // Writer: the only task that touches the sink after the handshake.
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Node(node) => {
                    if let Err(e) = send_node(&mut sink, &mut write, &node).await {
                        log::debug!("write failed: {e:#}");
                        break;
                    }
                }
                Out::Close => break,
            }
        }
        let _ = sink.close().await;
    });

    // The round trip a real server is away: the first stanza (QR refs or
    // login success) never follows the handshake instantly.
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let registration = payload.device_pairing_data.as_option().is_some();
    if registration {
        crate::pairing::offer_qr_refs(&shared, &conn);
    } else {
        login(&shared, &conn, payload.username, payload.device);
    }

    loop {
        tokio::select! {
            frame = reader.next_frame() => {
                let Some(frame) = frame? else { break };
                let node = match read.open(frame) {
                    Ok(node) => node,
                    Err(e) => {
                        log::warn!("dropping connection {}: {e:#}", conn.id);
                        break;
                    }
                };
                dispatch(&shared, &conn, node).await;
            }
            _ = kill_rx.changed() => break,
        }
    }

    {
        let mut st = shared.lock();
        st.conns.remove(&conn.id);
        st.qr_refs.retain(|_, c| *c != conn.id);
        // A passkey attempt lives as long as the companion's connection.
        st.passkey_gates.remove(&conn.id);
    }
    lock(&conn.pending).clear();
    conn.close();
    let _ = writer.await;
    Ok(())
}

/// Accepts a login for a known linked device or refuses it with 401. A
/// login as a device that already has a live connection replaces that
/// connection, as WhatsApp does (see `devices.rs`).
fn login(shared: &Shared, conn: &ConnHandle, username: Option<u64>, device: Option<u32>) {
    let phone = username.map(|u| u.to_string()).unwrap_or_default();
    let device = device.unwrap_or(0);
    let now = now_secs();
    let ban = shared.lock().limits.get(&phone).and_then(|l| l.ban(now));
    if let Some(ban) = ban {
        // A banned account's companions are refused at the door, told the
        // ban's sub-reason and how long it still lasts (seconds).
        log::info!("refusing login of banned account {phone}:{device}");
        conn.send(
            NodeBuilder::new(tag::FAILURE)
                .attrs([
                    ("reason", val::CODE_TEMP_BANNED.to_string()),
                    ("code", ban.code.to_string()),
                    ("expire", (ban.ends_at - now).to_string()),
                ])
                .build(),
        );
        conn.close();
        return;
    }
    let accepted = {
        let mut st = shared.lock();
        let lid = st
            .accounts
            .get(&phone)
            // The device must exist and present the Noise key it paired with.
            .filter(|a| {
                a.devices
                    .get(&device)
                    .is_some_and(|d| d.noise_pub == conn.client_static)
            })
            .map(|a| a.lid.clone());
        lid.map(|lid| (lid, crate::devices::log_in(&mut st, conn, &phone, device)))
    };
    match accepted {
        Some((lid, replaced)) => {
            log::info!("login {phone}:{device} (conn {})", conn.id);
            conn.send(
                NodeBuilder::new(tag::SUCCESS)
                    .attrs([
                        ("t", now_secs().to_string()),
                        ("lid", format!("{lid}:{device}@{}", wire::LID_SERVER)),
                    ])
                    .build(),
            );
            for old in replaced {
                log::info!(
                    "conn {} replaces conn {} as {phone}:{device}",
                    conn.id,
                    old.id
                );
                old.send(crate::devices::stream_replaced());
                // The writer still sends the stream error queued before the
                // close; killing also stops the reader, so a peer that never
                // hangs up cannot keep the replaced connection around.
                old.kill();
            }
            shared.accounts_version.send_modify(|v| *v += 1);
        }
        None => {
            log::info!("refusing login of unknown device {phone}:{device}");
            conn.send(
                NodeBuilder::new(tag::FAILURE)
                    .attr("reason", val::CODE_LOGGED_OUT)
                    .build(),
            );
            conn.close();
        }
    }
}

async fn dispatch(shared: &Arc<Shared>, conn: &Arc<ConnHandle>, node: Node) {
    match node.tag.as_ref() {
        tag::IQ => {
            let kind = attr(&node, "type").unwrap_or_default();
            if kind == "result" || kind == "error" {
                let id = attr(&node, "id").unwrap_or_default();
                if let Some(waiter) = lock(&conn.pending).remove(&id) {
                    let _ = waiter.send(node);
                }
                return;
            }
            log::debug!(
                "IQ {:?} ({:?}) {:?} from {:?}",
                attr(&node, "xmlns"),
                query_context(&node),
                attr(&node, "id"),
                conn.phone()
            );
            let delay = take_slow_iq(shared, conn, &node);
            match delay {
                Some(d) => {
                    let shared = shared.clone();
                    let conn = conn.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(d).await;
                        for out in crate::iq::handle(&shared, &conn, &node).await {
                            conn.send(out);
                        }
                    });
                }
                None => {
                    for out in crate::iq::handle(shared, conn, &node).await {
                        conn.send(out);
                    }
                }
            }
        }
        tag::MESSAGE => crate::messages::handle(shared, conn, &node).await,
        // Acks and receipts need no answer; they only tell which idle-load
        // messages the client has handled.
        tag::ACK | tag::RECEIPT => {
            if let Some((phone, device)) = conn.login() {
                crate::devices::record_idle_load_acks(&mut shared.lock(), &phone, device, &node);
            }
        }
        // Presence and chat states need no answer here.
        _ => log::trace!("ignoring <{}>", node.tag),
    }
}

/// Takes the first armed `slow_iq` fault aimed at this IQ, logging the hit.
fn take_slow_iq(shared: &Shared, conn: &ConnHandle, iq: &Node) -> Option<Duration> {
    let phone = conn.phone();
    let xmlns = attr(iq, "xmlns").unwrap_or_default();
    let context = query_context(iq);
    let mut st = shared.lock();
    let pos = st
        .faults
        .slow_iq
        .iter()
        .position(|f| f.matches(phone.as_deref(), &xmlns, context.as_deref()))?;
    let fault = st.faults.slow_iq.remove(pos);
    log::info!("slow_iq fault: holding IQ {xmlns} back {:?}", fault.delay);
    st.faults.hits.push(FaultHit {
        kind: "slow_iq".into(),
        phone,
        target: xmlns,
        context,
        stanza_id: attr(iq, "id").unwrap_or_default(),
    });
    Some(fault.delay)
}
