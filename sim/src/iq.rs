//! Answers to the client's IQs. Most get a bare result; the ones the client
//! parses (usync, prekeys, app-state, passive/active) get the shape its own
//! parsers expect (see `wacore/src/iq/`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::anyhow;
use wacore::iq::prekeys::{OneTimePreKeyNode, PreKeyBundleUserNode, SignedPreKeyNode};
use wacore::libsignal::protocol::{IdentityKey, PreKeyBundle, PublicKey};
use wacore::protocol::ProtocolNode;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::{Jid, Node, NodeContent};

use crate::state::{ConnHandle, Shared};
use crate::wire::{self, ns, tag};

/// Builds `<iq type="result" id=… from="s.whatsapp.net">children</iq>`.
pub fn result_for(iq: &Node, children: Vec<Node>) -> Node {
    let id = attr(iq, "id").unwrap_or_default();
    let builder = NodeBuilder::new(tag::IQ).attrs([
        ("type", "result".to_string()),
        ("id", id),
        ("from", wire::SERVER_JID.to_string()),
    ]);
    if children.is_empty() {
        builder.build()
    } else {
        builder.children(children).build()
    }
}

/// An attribute as a string.
pub fn attr(node: &Node, key: &str) -> Option<String> {
    node.attrs.get(key).map(|v| v.to_string())
}

fn children(node: &Node) -> &[Node] {
    node.children().unwrap_or(&[])
}

fn bytes(node: &Node) -> Option<&[u8]> {
    match node.content.as_ref() {
        Some(NodeContent::Bytes(b)) => Some(b),
        _ => None,
    }
}

fn text(node: &Node) -> Option<String> {
    match node.content.as_ref() {
        Some(NodeContent::String(s)) => Some(s.to_string()),
        Some(NodeContent::Bytes(b)) => String::from_utf8(b.clone()).ok(),
        _ => None,
    }
}

/// The user part of a JID string (`123:4@s.whatsapp.net` → `123`).
pub fn user_of(jid: &str) -> String {
    jid.split(['@', ':', '.'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Answers one client IQ request (`type` get/set). Returns the nodes to send.
pub async fn handle(shared: &Arc<Shared>, conn: &Arc<ConnHandle>, iq: &Node) -> Vec<Node> {
    match answer(shared, conn, iq).await {
        Ok(nodes) => nodes,
        Err(e) => {
            log::warn!("IQ {:?} failed: {e:#}", attr(iq, "xmlns"));
            let id = attr(iq, "id").unwrap_or_default();
            // The passkey gate's refusals carry their own code and text.
            let (code, text) = match e.downcast_ref::<crate::passkey::Refusal>() {
                Some(refusal) => (refusal.code().to_string(), refusal.text()),
                None => ("400".to_string(), "bad-request"),
            };
            vec![
                NodeBuilder::new(tag::IQ)
                    .attrs([
                        ("type", "error".to_string()),
                        ("id", id),
                        ("from", wire::SERVER_JID.to_string()),
                    ])
                    .children([NodeBuilder::new("error")
                        .attrs([("code", code), ("text", text.to_string())])
                        .build()])
                    .build(),
            ]
        }
    }
}

async fn answer(
    shared: &Arc<Shared>,
    conn: &Arc<ConnHandle>,
    iq: &Node,
) -> anyhow::Result<Vec<Node>> {
    let xmlns = attr(iq, "xmlns").unwrap_or_default();
    let kind = attr(iq, "type").unwrap_or_default();
    let first = children(iq).first();
    match (xmlns.as_str(), kind.as_str()) {
        // Without the offline marker the client waits 60 s for the backlog:
        // the idle load's, and the messages users sent while it was away.
        (ns::PASSIVE, _) => {
            conn.send(result_for(iq, vec![]));
            let mut count = 0;
            if let Some((phone, device)) = conn.login() {
                if let Some(load) = shared.config.idle_load {
                    let sent =
                        crate::idle_load::push(shared, conn, &phone, device, load, true).await?;
                    if sent == 0 {
                        conn.idle_load_owed.store(true, Ordering::Relaxed);
                    }
                    count += sent;
                }
                for message in crate::user_message::take_offline(shared, &phone, device) {
                    conn.send(message);
                    count += 1;
                }
            }
            conn.send(crate::idle_load::offline_marker(count));
            conn.offline_marker_sent.send_replace(true);
            Ok(vec![])
        }
        (ns::APP_STATE, _) => Ok(vec![app_state(shared, conn, iq)]),
        // No A/B props and default privacy: empty containers parse cleanly.
        (ns::PROPS, "get") => Ok(vec![result_for(
            iq,
            vec![NodeBuilder::new("props").attr("protocol", "1").build()],
        )]),
        (ns::PRIVACY, "get") => Ok(vec![result_for(
            iq,
            vec![NodeBuilder::new("privacy").build()],
        )]),
        (ns::USYNC, _) => Ok(vec![usync(shared, conn, iq)?]),
        (ns::MEX, "get") => Ok(vec![result_for(
            iq,
            vec![crate::mex::answer(shared, conn.phone().as_deref(), iq)],
        )]),
        (ns::ENCRYPT, "get") if first.is_some_and(|c| c.tag == tag::KEY) => {
            Ok(vec![prekey_fetch(shared, conn, iq).await?])
        }
        (ns::ENCRYPT, "get") if first.is_some_and(|c| c.tag == "count") => {
            let count = conn
                .login
                .lock()
                .map(|l| l.clone())
                .ok()
                .flatten()
                .and_then(|(phone, dev)| {
                    let st = shared.lock();
                    st.accounts
                        .get(&phone)
                        .and_then(|a| a.devices.get(&dev))
                        .map(|d| d.prekey_count)
                })
                .unwrap_or(0);
            Ok(vec![result_for(
                iq,
                vec![
                    NodeBuilder::new("count")
                        .attr("value", count.to_string())
                        .build(),
                ],
            )])
        }
        (ns::ENCRYPT, "set") if iq.get_optional_child(tag::REGISTRATION).is_some() => {
            prekey_upload(shared, conn, iq).await?;
            Ok(vec![result_for(iq, vec![])])
        }
        (ns::MD, _) if first.is_some_and(|c| crate::passkey_gate::handles(&c.tag)) => {
            let child = first.ok_or_else(|| anyhow!("unreachable"))?;
            Ok(vec![crate::passkey_gate::handle_iq(
                shared, conn, iq, child,
            )?])
        }
        (ns::MD, _) if first.is_some_and(|c| c.tag == tag::LINK_CODE_COMPANION_REG) => {
            let reg = first.ok_or_else(|| anyhow!("unreachable"))?;
            Ok(vec![crate::pair_code::handle_iq(shared, conn, iq, reg)?])
        }
        _ => Ok(vec![result_for(iq, vec![])]),
    }
}

fn app_state(shared: &Arc<Shared>, conn: &Arc<ConnHandle>, iq: &Node) -> Node {
    // With the idle load's history, a used account's contacts (see
    // `app_state.rs`) under the key the phone shared.
    let contacts = shared
        .config
        .idle_load
        .filter(|load| load.history)
        .and_then(|load| {
            let phone = conn.phone()?;
            let key = shared.lock().accounts.get(&phone)?.app_state_key.clone()?;
            Some((load, key))
        });
    let collections: Vec<Node> = iq
        .get_optional_child(tag::SYNC)
        .map(|sync| {
            sync.get_children_by_tag(tag::COLLECTION)
                .filter_map(|c| {
                    let since = attr(c, "version").and_then(|v| v.parse::<u64>().ok());
                    Some((attr(c, "name")?, since.unwrap_or(0)))
                })
                .map(|(name, since)| match &contacts {
                    Some((load, (key_id, key_data)))
                        if name == crate::app_state::CONTACTS_COLLECTION && since == 0 =>
                    {
                        let patch = crate::app_state::contacts_patch(
                            key_id,
                            key_data,
                            *load,
                            crate::history::chat_jid,
                        );
                        NodeBuilder::new(tag::COLLECTION)
                            .attrs([("name", name), ("version", "1".to_string())])
                            .children([NodeBuilder::new("patches")
                                .children([NodeBuilder::new("patch").bytes(patch).build()])
                                .build()])
                            .build()
                    }
                    // No patches: the client counts it as synced.
                    _ => NodeBuilder::new(tag::COLLECTION)
                        .attrs([("name", name), ("version", since.max(1).to_string())])
                        .build(),
                })
                .collect()
        })
        .unwrap_or_default();
    result_for(
        iq,
        vec![NodeBuilder::new(tag::SYNC).children(collections).build()],
    )
}

/// One user of a usync query, resolved to a phone number.
struct QueryUser {
    jid: String,
    phone: String,
}

fn usync(shared: &Arc<Shared>, conn: &Arc<ConnHandle>, iq: &Node) -> anyhow::Result<Node> {
    let usync = iq
        .get_optional_child(tag::USYNC)
        .ok_or_else(|| anyhow!("usync IQ without <usync>"))?;
    let protocols: Vec<String> = usync
        .get_optional_child(tag::QUERY)
        .map(|q| children(q).iter().map(|c| c.tag.to_string()).collect())
        .unwrap_or_default();
    let own = conn.login.lock().ok().and_then(|l| l.clone());
    let (own_lid, own_phone) = match &own {
        Some((phone, _)) => (
            shared.lock().accounts.get(phone).map(|a| a.lid.clone()),
            Some(phone.clone()),
        ),
        None => (None, None),
    };

    let mut users = Vec::new();
    if let Some(list) = usync.get_optional_child(tag::LIST) {
        for user in list.get_children_by_tag(tag::USER) {
            if let Some(jid) = attr(user, "jid") {
                let mut phone = user_of(&jid);
                if jid.ends_with(&format!("@{}", wire::LID_SERVER))
                    && own_lid.as_deref() == Some(phone.as_str())
                {
                    phone = own_phone.clone().unwrap_or(phone);
                }
                let jid = match jid.split_once('@') {
                    Some((u, server)) => format!("{}@{server}", user_of(u)),
                    None => jid,
                };
                users.push(QueryUser { jid, phone });
            } else if let Some(contact) = user.get_optional_child(tag::CONTACT).and_then(text) {
                let phone: String = contact.chars().filter(|c| c.is_ascii_digit()).collect();
                users.push(QueryUser {
                    jid: format!("{phone}@{}", wire::PN_SERVER),
                    phone,
                });
            }
        }
    }

    let st = shared.lock();
    let mut out = Vec::new();
    for u in users {
        let is_own = own_phone.as_deref() == Some(u.phone.as_str());
        let account = st.accounts.get(&u.phone).filter(|a| !a.devices.is_empty());
        let registered =
            is_own || account.is_some() || st.numbers.get(&u.phone).is_some_and(|r| r.registered);
        // `(device, key index)`: a linked account lists its phone and its
        // companions (the asker's own account included: clients fan a
        // message out to their other devices); a plain number its phone.
        let devices: Vec<(u32, Option<u32>)> = match account {
            Some(a) => {
                let asking = own.as_ref().filter(|_| is_own).map(|(_, d)| *d);
                crate::account_devices::listing(a, asking)
            }
            None if registered => vec![(0, None)],
            None => vec![],
        };
        let mut kids = Vec::new();
        for p in &protocols {
            match p.as_str() {
                tag::CONTACT => kids.push(
                    NodeBuilder::new(tag::CONTACT)
                        .attr("type", if registered { "in" } else { "out" })
                        .build(),
                ),
                tag::DEVICES => kids.push(crate::account_devices::devices_node(&devices, account)?),
                tag::LID => {
                    let lid = if is_own { own_lid.clone() } else { None };
                    let mut b = NodeBuilder::new(tag::LID);
                    if let Some(lid) = lid {
                        b = b.attr("val", format!("{lid}@{}", wire::LID_SERVER));
                    }
                    kids.push(b.build());
                }
                // Other protocols are optional for the client; omit them.
                _ => {}
            }
        }
        out.push(
            NodeBuilder::new(tag::USER)
                .attr("jid", u.jid)
                .children(kids)
                .build(),
        );
    }
    drop(st);
    Ok(result_for(
        iq,
        vec![
            NodeBuilder::new(tag::USYNC)
                .children([
                    NodeBuilder::new(tag::RESULT).build(),
                    NodeBuilder::new(tag::LIST).children(out).build(),
                ])
                .build(),
        ],
    ))
}

async fn prekey_fetch(
    shared: &Arc<Shared>,
    conn: &Arc<ConnHandle>,
    iq: &Node,
) -> anyhow::Result<Node> {
    let key = iq
        .get_optional_child(tag::KEY)
        .ok_or_else(|| anyhow!("prekey fetch without <key>"))?;
    let asker = conn.phone();
    let mut users = Vec::new();
    for user in key.get_children_by_tag(tag::USER) {
        let Some(jid_str) = attr(user, "jid") else {
            continue;
        };
        let phone = user_of(&jid_str);
        let jid: Jid = jid_str
            .parse()
            .map_err(|e| anyhow!("bad jid {jid_str}: {e:?}"))?;
        match bundle_for(shared, asker.as_deref(), &phone, jid.device.into()).await? {
            Some(bundle) => {
                users.push(PreKeyBundleUserNode::from_bundle(jid, &bundle, None)?.into_node())
            }
            None => users.push(
                NodeBuilder::new(tag::USER)
                    .attr("jid", jid_str)
                    .children([NodeBuilder::new("error")
                        .attrs([("code", "404"), ("text", "item-not-found")])
                        .build()])
                    .build(),
            ),
        }
    }
    Ok(result_for(
        iq,
        vec![NodeBuilder::new(tag::LIST).children(users).build()],
    ))
}

/// The prekey bundle of `phone:device` as the server hands it to `asker`,
/// or `None` (item-not-found). Device 0 of a registered number is the
/// recipient phone that decrypts messages; device 0 of a linked account is
/// its phone's own identity (for the asker's own account always, so that a
/// copy to its phone meets the identity that sent the key share); a
/// companion's bundle comes from its own upload.
async fn bundle_for(
    shared: &Arc<Shared>,
    asker: Option<&str>,
    phone: &str,
    device: u32,
) -> anyhow::Result<Option<PreKeyBundle>> {
    let (number, account_store) = {
        let mut st = shared.lock();
        if device != 0 {
            let keys = st
                .accounts
                .get_mut(phone)
                .and_then(|a| a.devices.get_mut(&device))
                .and_then(|c| c.keys.as_mut());
            return keys.map(|k| k.take_bundle(device)).transpose();
        }
        let number = st.numbers.get(phone).filter(|r| r.registered).cloned();
        let account_store = st
            .accounts
            .get(phone)
            .filter(|a| !a.devices.is_empty())
            .map(|a| a.store.clone());
        (number, account_store)
    };
    let own = asker == Some(phone);
    match (number, account_store) {
        (_, Some(store)) if own => Ok(Some(store.lock().await.fresh_bundle(0)?)),
        (Some(number), _) => Ok(Some(number.store.lock().await.fresh_bundle(0)?)),
        (None, Some(store)) => Ok(Some(store.lock().await.fresh_bundle(0)?)),
        (None, None) => Ok(None),
    }
}

async fn prekey_upload(
    shared: &Arc<Shared>,
    conn: &Arc<ConnHandle>,
    iq: &Node,
) -> anyhow::Result<()> {
    let Some((phone, device)) = conn.login.lock().ok().and_then(|l| l.clone()) else {
        return Ok(());
    };
    let reg = iq
        .get_optional_child(tag::REGISTRATION)
        .and_then(bytes)
        .ok_or_else(|| anyhow!("upload without registration"))?;
    let registration_id =
        u32::from_be_bytes(reg.try_into().map_err(|_| anyhow!("bad registration"))?);
    let identity = iq
        .get_optional_child(tag::IDENTITY)
        .and_then(bytes)
        .ok_or_else(|| anyhow!("upload without identity"))?;
    let skey_node = iq
        .get_optional_child(tag::SKEY)
        .ok_or_else(|| anyhow!("upload without skey"))?;
    let skey = SignedPreKeyNode::try_from_node_ref(&skey_node.as_node_ref())?;
    let prekeys: Vec<OneTimePreKeyNode> = iq
        .get_optional_child(tag::LIST)
        .map(|l| {
            l.get_children_by_tag(tag::KEY)
                .filter_map(|k| OneTimePreKeyNode::try_from_node_ref(&k.as_node_ref()).ok())
                .collect()
        })
        .unwrap_or_default();
    let first = prekeys
        .first()
        .ok_or_else(|| anyhow!("upload without prekeys"))?;
    let bundle = PreKeyBundle::new(
        registration_id,
        device.into(),
        Some((
            first.id.into(),
            PublicKey::from_djb_public_key_bytes(&first.public_bytes)?,
        )),
        skey.id.into(),
        PublicKey::from_djb_public_key_bytes(&skey.public_bytes)?,
        skey.signature.clone(),
        IdentityKey::new(PublicKey::from_djb_public_key_bytes(identity)?),
    )?;
    let first_time = {
        let mut st = shared.lock();
        let Some(companion) = st
            .accounts
            .get_mut(&phone)
            .and_then(|a| a.devices.get_mut(&device))
        else {
            return Ok(());
        };
        companion.prekey_count = prekeys.len();
        companion.keys = Some(crate::account_devices::UploadedKeys {
            registration_id,
            identity: identity.to_vec(),
            signed_id: skey.id,
            signed_public: skey.public_bytes.to_vec(),
            signed_signature: skey.signature.to_vec(),
            prekeys: prekeys
                .iter()
                .map(|k| (k.id, k.public_bytes.to_vec()))
                .collect(),
        });
        let first_time = !companion.key_share_sent;
        companion.key_share_sent = true;
        first_time
    };
    let send_share = first_time && shared.config.send_key_share;
    // The phone sends the history sync once per paired companion, after
    // its key share (whose Signal session it reuses).
    let history = shared
        .config
        .idle_load
        .filter(|load| load.history && first_time);
    log::info!("{phone}:{device} uploaded {} prekeys", prekeys.len());
    if let Some(load) = shared.config.idle_load
        && conn.idle_load_owed.swap(false, Ordering::Relaxed)
    {
        let (shared, conn, phone) = (shared.clone(), conn.clone(), phone.clone());
        tokio::spawn(async move {
            if let Err(e) =
                crate::idle_load::push(&shared, &conn, &phone, device, load, false).await
            {
                log::warn!("idle load to {phone}:{device} failed: {e:#}");
            }
        });
    }
    if send_share || history.is_some() {
        let shared = shared.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            if send_share
                && let Err(e) = crate::keyshare::send(&shared, &conn, &phone, device, &bundle).await
            {
                log::warn!("app-state key share to {phone}:{device} failed: {e:#}");
            }
            if let Some(load) = history {
                // After the offline backlog, like a real phone's (which
                // uploads the blob first); a client that never goes
                // passive gets it after the deadline anyway.
                let mut marker = conn.offline_marker_sent.subscribe();
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(30),
                    marker.wait_for(|sent| *sent),
                )
                .await;
                let bundle = (!send_share).then_some(&bundle);
                if let Err(e) =
                    crate::history::send(&shared, &conn, &phone, device, bundle, load).await
                {
                    log::warn!("history sync to {phone}:{device} failed: {e:#}");
                }
            }
        });
    }
    Ok(())
}
