//! A simulated user writes to a linked account, and the REAL whatsapp-rust
//! client decrypts it: the first message starts a Signal session from one
//! of the companion's prekeys (`pkmsg`), later ones use it, a reply from
//! the companion reaches the user on the same session, and a message sent
//! while the companion was away arrives at its next login, marked offline.

mod common;

use common::*;
use waotp_sim::{SimConfig, Simulator};
use whatsapp_rust::prelude::*;
use whatsapp_rust::wacore::proto_helpers::MessageExt;

const USER: &str = "6281234567101";

/// What the client saw of one incoming text.
#[derive(Debug, PartialEq)]
struct Received {
    text: String,
    sender: String,
    from_me: bool,
    offline: bool,
}

/// Waits for the incoming text with stanza id `id`.
async fn received(client: &mut TestClient, id: &str) -> Received {
    client
        .wait_for(&format!("incoming message {id}"), EVENT_DEADLINE, |e| {
            e.messages().find(|m| m.info.id == id).map(|m| Received {
                text: m.message.text_content().unwrap_or_default().to_string(),
                sender: m.info.source.sender.to_string(),
                from_me: m.info.source.is_from_me,
                offline: m.info.is_offline,
            })
        })
        .await
}

/// `from` writes `text` to `to`, once the companion has uploaded the keys
/// a first message needs (it does so just after it connects).
async fn user_send(sim: &Simulator, from: &str, to: &str, text: &str) -> waotp_sim::UserMessage {
    let deadline = std::time::Instant::now() + EVENT_DEADLINE;
    loop {
        match sim.user_send(from, to, text).await {
            Ok(sent) => return sent,
            Err(e) if std::time::Instant::now() < deadline => {
                log::debug!("not yet: {e:#}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{from} could not write to {to} within {EVENT_DEADLINE:?}: {e:#}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_writes_first_and_the_companion_decrypts_and_answers() {
    init_logs();
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("sim start");
    sim.add_number(USER, true);
    let phone = "6281111111501";
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, phone, &dir.path().join("wa.db")).await;

    let first = user_send(&sim, USER, phone, "Kode masuk: K7QF-M2XD").await;
    assert_eq!(first.queued, Vec::<u32>::new(), "{first:?}");
    assert_eq!(first.delivered.len(), 1, "{first:?}");
    let got = received(&mut client, &first.id).await;
    assert_eq!(
        got,
        Received {
            text: "Kode masuk: K7QF-M2XD".into(),
            sender: format!("{USER}@s.whatsapp.net"),
            from_me: false,
            offline: false,
        }
    );
    assert!(
        sim.account_limits(phone).chats.contains(&USER.to_string()),
        "the user is one of the account's chats"
    );

    // The companion answers on the session the user started.
    client
        .client
        .send_text(Jid::pn(USER), "Berhasil masuk")
        .await
        .expect("reply");
    let inbox = sim
        .wait_for_inbox(USER, 1, EVENT_DEADLINE)
        .await
        .expect("the reply reaches the user");
    assert_eq!(inbox[0].text, "Berhasil masuk");

    // A second message uses the session (no prekey spent).
    let second = user_send(&sim, USER, phone, "terima kasih").await;
    assert_eq!(received(&mut client, &second.id).await.text, "terima kasih");

    // Sent while the companion is away: it arrives at the next login. The
    // simulator sees the socket close a moment after the client has shut
    // down; until then a message still goes to the live connection.
    client.shutdown().await;
    let deadline = tokio::time::Instant::now() + EVENT_DEADLINE;
    while sim
        .linked_accounts()
        .iter()
        .any(|a| a.phone == phone && a.online)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the simulator still sees {phone} online {EVENT_DEADLINE:?} after the shutdown"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let away = user_send(&sim, USER, phone, "masih di sana?").await;
    assert!(away.delivered.is_empty(), "{away:?}");
    assert_eq!(away.queued.len(), 1, "{away:?}");
    let mut again = TestClient::start(&sim, &dir.path().join("wa.db"), None).await;
    let got = received(&mut again, &away.id).await;
    assert_eq!(got.text, "masih di sana?");
    assert!(got.offline, "delivered from the offline queue");
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lid_addressed_user_writes_from_the_lid_with_the_phone_beside_it() {
    init_logs();
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("sim start");
    let user = "6281234567103";
    sim.add_number(user, true);
    let lid = sim.address_by_lid(user);
    assert_eq!(sim.address_by_lid(user), lid, "one LID per user");
    let phone = "6281111111502";
    let dir = tempfile::tempdir().unwrap();
    let mut client = paired_client(&sim, phone, &dir.path().join("wa.db")).await;

    let sent = user_send(&sim, user, phone, "Kode masuk: AAAA-BBBB").await;
    let (sender, sender_alt) = client
        .wait_for("the LID user's message", EVENT_DEADLINE, |e| {
            e.messages().find(|m| m.info.id == sent.id).map(|m| {
                (
                    m.info.source.sender.to_string(),
                    m.info.source.sender_alt.as_ref().map(|j| j.to_string()),
                )
            })
        })
        .await;
    assert_eq!(sender, format!("{lid}@lid"));
    assert_eq!(sender_alt, Some(format!("{user}@s.whatsapp.net")));
    // whatsapp-rust learned the mapping from the stanza.
    let entry = client
        .client
        .get_lid_pn_entry(&format!("{lid}@lid").parse::<Jid>().unwrap())
        .await
        .expect("mapping lookup")
        .expect("a mapping");
    assert_eq!(&*entry.phone_number, user);

    // A reply to the phone number reaches the user, however the client
    // addresses it now.
    client
        .client
        .send_text(Jid::pn(user), "Berhasil masuk")
        .await
        .expect("reply");
    let inbox = sim
        .wait_for_inbox(user, 1, EVENT_DEADLINE)
        .await
        .expect("the reply reaches the LID user");
    assert_eq!(inbox[0].text, "Berhasil masuk");
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_cannot_write_from_an_unknown_number_or_to_no_account() {
    init_logs();
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("sim start");
    sim.add_number(USER, true);
    sim.add_number("6281234567102", false);
    let unregistered = sim.user_send("6281234567102", USER, "halo").await;
    assert!(unregistered.is_err(), "an unregistered sender");
    let no_account = sim.user_send(USER, "6281111111599", "halo").await;
    let message = format!("{:#}", no_account.expect_err("no account"));
    assert!(message.contains("not a linked account"), "{message}");
}
