//! Answers to the client's IQs. Most get a bare result; the ones the client
//! parses (usync, prekeys, app-state, passive/active) get the shape its own
//! parsers expect (see `wacore/src/iq/`).

use std::sync::Arc;

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
            vec![
                NodeBuilder::new(tag::IQ)
                    .attrs([
                        ("type", "error".to_string()),
                        ("id", id),
                        ("from", wire::SERVER_JID.to_string()),
                    ])
                    .children([NodeBuilder::new("error")
                        .attrs([("code", "400"), ("text", "bad-request")])
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
        (ns::PASSIVE, _) => Ok(vec![
            result_for(iq, vec![]),
            // Without the offline marker the client waits 60 s for the backlog.
            NodeBuilder::new(tag::IB)
                .attr("from", wire::SERVER_JID)
                .children([NodeBuilder::new(tag::OFFLINE).attr("count", "0").build()])
                .build(),
        ]),
        (ns::APP_STATE, _) => Ok(vec![app_state(iq)]),
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
        (ns::ENCRYPT, "get") if first.is_some_and(|c| c.tag == tag::KEY) => {
            Ok(vec![prekey_fetch(shared, iq).await?])
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
        (ns::MD, _) if first.is_some_and(|c| c.tag == tag::LINK_CODE_COMPANION_REG) => {
            let reg = first.ok_or_else(|| anyhow!("unreachable"))?;
            Ok(vec![crate::pair_code::handle_iq(shared, conn, iq, reg)?])
        }
        _ => Ok(vec![result_for(iq, vec![])]),
    }
}

fn app_state(iq: &Node) -> Node {
    let collections: Vec<Node> = iq
        .get_optional_child(tag::SYNC)
        .map(|sync| {
            sync.get_children_by_tag(tag::COLLECTION)
                .filter_map(|c| attr(c, "name"))
                .map(|name| {
                    // Version 1 and no patches: the client counts it as synced.
                    NodeBuilder::new(tag::COLLECTION)
                        .attrs([("name", name), ("version", "1".to_string())])
                        .build()
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
        let registered = is_own || st.numbers.get(&u.phone).is_some_and(|r| r.registered);
        let devices: Vec<u32> = if is_own {
            // Only the asking companion: no fan-out to a primary device.
            own.as_ref().map(|(_, d)| vec![*d]).unwrap_or_default()
        } else if registered {
            vec![0]
        } else {
            vec![]
        };
        let mut kids = Vec::new();
        for p in &protocols {
            match p.as_str() {
                tag::CONTACT => kids.push(
                    NodeBuilder::new(tag::CONTACT)
                        .attr("type", if registered { "in" } else { "out" })
                        .build(),
                ),
                tag::DEVICES => kids.push(
                    NodeBuilder::new(tag::DEVICES)
                        .children([NodeBuilder::new(tag::DEVICE_LIST)
                            .children(devices.iter().map(|d| {
                                NodeBuilder::new(tag::DEVICE)
                                    .attr("id", d.to_string())
                                    .build()
                            }))
                            .build()])
                        .build(),
                ),
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

async fn prekey_fetch(shared: &Arc<Shared>, iq: &Node) -> anyhow::Result<Node> {
    let key = iq
        .get_optional_child(tag::KEY)
        .ok_or_else(|| anyhow!("prekey fetch without <key>"))?;
    let mut users = Vec::new();
    for user in key.get_children_by_tag(tag::USER) {
        let Some(jid_str) = attr(user, "jid") else {
            continue;
        };
        let phone = user_of(&jid_str);
        let recipient = shared.lock().numbers.get(&phone).cloned();
        let jid: Jid = jid_str
            .parse()
            .map_err(|e| anyhow!("bad jid {jid_str}: {e:?}"))?;
        match recipient {
            Some(r) if r.registered && jid.device == 0 => {
                let bundle = r.store.lock().await.fresh_bundle(0)?;
                users.push(PreKeyBundleUserNode::from_bundle(jid, &bundle, None)?.into_node());
            }
            _ => users.push(
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
    let send_share = {
        let mut st = shared.lock();
        let Some(companion) = st
            .accounts
            .get_mut(&phone)
            .and_then(|a| a.devices.get_mut(&device))
        else {
            return Ok(());
        };
        companion.prekey_count = prekeys.len();
        let first_time = !companion.key_share_sent;
        companion.key_share_sent = true;
        first_time && shared.config.send_key_share
    };
    log::info!("{phone}:{device} uploaded {} prekeys", prekeys.len());
    if send_share {
        let shared = shared.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::keyshare::send(&shared, &conn, &phone, device, &bundle).await {
                log::warn!("app-state key share to {phone}:{device} failed: {e:#}");
            }
        });
    }
    Ok(())
}
