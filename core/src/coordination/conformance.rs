//! What every [`Coordination`] must do, written once and run against each
//! implementation: `local.rs` and `redis.rs` call [`run_all`] with two
//! handles on the same shared state, as two processes (or hosts) would hold.
//!
//! Each check works on a session of its own, so they can share one state.
//! What only one implementation has (file locks, TTLs and renewal, blocking
//! Redis reads) stays in that implementation's own tests.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Command, Coordination, Lease, OutboxKey, Outcome, Request, SharedStatus, Submitted};
use crate::error::Error;
use crate::model::DeliveryStatus;
use crate::model::{SessionId, SessionStatus};

/// The bound on waits that should end at once: generous for a loaded
/// machine, far below any timeout that would otherwise end them.
pub(crate) const SOON: Duration = Duration::from_secs(2);

/// Runs every check with `a` and `b` as two processes on one shared state.
pub(crate) async fn run_all<C: Coordination>(a: &Arc<C>, b: &Arc<C>) {
    a_follower_submits_the_owner_claims_and_the_follower_reads_the_outcome(a, b).await;
    a_new_owner_takes_back_what_the_old_one_claimed(a, b).await;
    what_the_owner_claimed_for_itself_at_submit_also_comes_back(a, b).await;
    a_dropped_lease_is_free_at_once_with_a_newer_token(a, b).await;
    a_finish_after_the_lease_passed_on_changes_nothing(a, b).await;
    a_failed_request_is_queued_again_under_its_idempotency_key(a).await;
    only_unclaimed_requests_can_be_withdrawn(a).await;
    statuses_and_deliveries_are_shared_and_forget_clears_the_session(a, b).await;
    known_contacts_and_the_daily_budget_are_shared(a, b).await;
}

/// A chat one handle records, the other sees; a day's budget of new chats
/// is one for both, counted once per phone, and a new day starts afresh.
async fn known_contacts_and_the_daily_budget_are_shared<C: Coordination>(a: &Arc<C>, b: &Arc<C>) {
    let s = SessionId::parse("contacts").unwrap();
    assert!(!b.is_contact(&s, "62811").await.unwrap());
    a.add_contact(&s, "62811").await.unwrap();
    a.add_contact(&s, "62811").await.unwrap();
    assert!(b.is_contact(&s, "62811").await.unwrap());
    let other = SessionId::parse("contacts-other").unwrap();
    assert!(!b.is_contact(&other, "62811").await.unwrap(), "per session");

    let day = 20_000;
    assert!(a.take_new_chat(&s, "62801", day, 2).await.unwrap());
    assert!(
        b.take_new_chat(&s, "62801", day, 2).await.unwrap(),
        "once per phone"
    );
    assert!(b.take_new_chat(&s, "62802", day, 2).await.unwrap());
    assert!(
        !a.take_new_chat(&s, "62803", day, 2).await.unwrap(),
        "spent"
    );
    assert!(
        b.take_new_chat(&s, "62803", day + 1, 2).await.unwrap(),
        "a new day"
    );
    assert!(
        a.take_new_chat(&other, "62803", day, 2).await.unwrap(),
        "per session"
    );

    a.forget(&s).await.unwrap();
    assert!(
        !b.is_contact(&s, "62811").await.unwrap(),
        "forget clears them"
    );
}

/// The outbox key every handle of a test shares (as every process of a
/// deployment derives the same one from its OTP secret).
pub(crate) fn test_key() -> OutboxKey {
    OutboxKey::derive(&[42; 32])
}

/// `request` as it reads back once finished: without its payload.
fn erased(request: &Request) -> Request {
    let mut r = request.clone();
    if let Some(p) = r.command.payload_mut() {
        p.clear();
    }
    r
}

/// A send of "hi" to one recipient, as the gateway queues it.
pub(crate) fn send(session: &SessionId, key: Option<&str>, message_id: &str) -> Request {
    Request::new(
        session,
        Command::SendText {
            to: "628111".into(),
            text: "hi".into(),
            message_id: message_id.into(),
        },
        key,
    )
}

/// Tries the lease until it is taken, failing the test after `within`.
pub(crate) async fn lease_within(
    c: &impl Coordination,
    s: &SessionId,
    within: Duration,
    why: &str,
) -> Lease {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(lease)) = c.try_lease(s).await {
            return lease;
        }
        assert!(
            Instant::now() < deadline,
            "{why}: no lease within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn session(name: &str) -> SessionId {
    SessionId::parse(name).unwrap()
}

async fn a_follower_submits_the_owner_claims_and_the_follower_reads_the_outcome<C: Coordination>(
    owner: &Arc<C>,
    follower: &Arc<C>,
) {
    let s = session("handover");
    let lease = owner.try_lease(&s).await.unwrap().expect("free lease");
    assert!(
        follower.try_lease(&s).await.unwrap().is_none(),
        "one owner at a time"
    );

    let request = send(&s, Some("k1"), "3EB0A");
    assert_eq!(
        follower.submit(&request, None).await.unwrap(),
        Submitted::Queued
    );
    let drain = {
        let owner = owner.clone();
        let s = s.clone();
        tokio::spawn(async move {
            let claimed = owner
                .claim(&s, &lease, Duration::from_secs(10))
                .await
                .unwrap();
            for r in &claimed {
                owner
                    .finish(r, &lease, &Outcome::of(&Ok(())))
                    .await
                    .unwrap();
            }
            (claimed, lease)
        })
    };
    let outcome = follower
        .wait_outcome(&s, &request.id, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("answered in time");
    outcome.into_result::<()>().unwrap();
    let (claimed, lease) = drain.await.unwrap();
    assert_eq!(claimed, vec![request.clone()], "claimed with its payload");
    assert_eq!(
        follower.message("3EB0A").await.unwrap().unwrap().status,
        DeliveryStatus::Pending
    );
    assert_eq!(
        follower
            .submit(&send(&s, Some("k1"), "3EB0B"), None)
            .await
            .unwrap(),
        Submitted::AlreadyDone(erased(&request)),
        "the same key again queues nothing new; the finished request has no payload left"
    );
    drop(lease);
    lease_within(follower.as_ref(), &s, SOON, "a released lease is free").await;
}

async fn a_new_owner_takes_back_what_the_old_one_claimed<C: Coordination>(a: &Arc<C>, b: &Arc<C>) {
    let s = session("takeback");
    let old = a.try_lease(&s).await.unwrap().unwrap();
    let old_token = old.token;
    let queued = send(&s, None, "3EB0C");
    let restart = Request::new(&s, Command::Restart, None);
    a.submit(&queued, None).await.unwrap();
    a.submit(&restart, None).await.unwrap();
    assert_eq!(a.claim(&s, &old, Duration::ZERO).await.unwrap().len(), 2);
    drop(old); // the owner dies with both claimed
    let new = lease_within(b.as_ref(), &s, SOON, "the dead owner's lease").await;
    assert!(
        new.token > old_token,
        "a new owner gets a newer fencing token"
    );
    assert_eq!(
        b.claim(&s, &new, Duration::ZERO).await.unwrap(),
        vec![queued],
        "a send is carried out again under its message id"
    );
    let answered = b
        .wait_outcome(&s, &restart.id, Duration::ZERO)
        .await
        .unwrap()
        .expect("any other command is answered");
    assert_eq!(
        answered.into_result::<()>().unwrap_err().code(),
        "WHATSAPP_ERROR"
    );
}

async fn what_the_owner_claimed_for_itself_at_submit_also_comes_back<C: Coordination>(
    a: &Arc<C>,
    b: &Arc<C>,
) {
    let s = session("ownclaim");
    let old = a.try_lease(&s).await.unwrap().unwrap();
    let own = send(&s, Some("k"), "3EB0E");
    assert_eq!(a.submit(&own, Some(&old)).await.unwrap(), Submitted::Queued);
    assert!(
        a.claim(&s, &old, Duration::ZERO).await.unwrap().is_empty(),
        "claimed at submit, so never queued"
    );
    drop(old); // dies before finishing it
    let new = lease_within(b.as_ref(), &s, SOON, "the dead owner's lease").await;
    assert_eq!(b.claim(&s, &new, Duration::ZERO).await.unwrap(), vec![own]);
}

async fn a_dropped_lease_is_free_at_once_with_a_newer_token<C: Coordination>(
    a: &Arc<C>,
    b: &Arc<C>,
) {
    let s = session("released");
    let lease = a.try_lease(&s).await.unwrap().unwrap();
    assert!(lease.is_held());
    let first = lease.token;
    drop(lease);
    let next = lease_within(b.as_ref(), &s, SOON, "a dropped lease").await;
    assert!(next.token > first);
}

/// An owner that gave the session up (or lost it) while carrying out a
/// request must not answer it over its successor, which sends it again.
async fn a_finish_after_the_lease_passed_on_changes_nothing<C: Coordination>(
    a: &Arc<C>,
    b: &Arc<C>,
) {
    let s = session("fenced");
    let old = a.try_lease(&s).await.unwrap().unwrap();
    let request = send(&s, None, "3EB0F");
    a.submit(&request, None).await.unwrap();
    assert_eq!(
        a.claim(&s, &old, Duration::ZERO).await.unwrap(),
        vec![request.clone()]
    );
    // The lease passes on while A is still at work; the old token stays
    // known to A, as it would to an owner cut off mid-send.
    let stale_lease = Lease {
        token: old.token,
        lost: old.lost.clone(),
        _holder: Box::new(()),
    };
    drop(old);
    let new = lease_within(b.as_ref(), &s, SOON, "the passed-on lease").await;
    let stale = Outcome::of::<()>(&Err(Error::SendFailed("old owner".into())));
    a.finish(&request, &stale_lease, &stale).await.unwrap();
    assert_eq!(
        b.wait_outcome(&s, &request.id, Duration::ZERO)
            .await
            .unwrap(),
        None,
        "the old owner's answer was taken"
    );
    assert_eq!(
        b.claim(&s, &new, Duration::ZERO).await.unwrap(),
        vec![request.clone()],
        "the new owner carries it out"
    );
    a.finish(&request, &stale_lease, &stale).await.unwrap();
    b.finish(&request, &new, &Outcome::of(&Ok(())))
        .await
        .unwrap();
    a.finish(&request, &stale_lease, &stale).await.unwrap();
    b.wait_outcome(&s, &request.id, Duration::ZERO)
        .await
        .unwrap()
        .expect("the new owner's outcome")
        .into_result::<()>()
        .unwrap();
}

async fn a_failed_request_is_queued_again_under_its_idempotency_key<C: Coordination>(c: &Arc<C>) {
    let s = session("retried");
    let lease = c.try_lease(&s).await.unwrap().unwrap();
    let request = send(&s, Some("k"), "3EB15");
    c.submit(&request, None).await.unwrap();
    let claimed = c.claim(&s, &lease, Duration::ZERO).await.unwrap();
    let failed = Outcome::of::<()>(&Err(Error::SendFailed("no route".into())));
    c.finish(&claimed[0], &lease, &failed).await.unwrap();
    // The failure erased the payload; the retry brings its own.
    let mut retry = send(&s, Some("k"), "3EB16");
    if let Command::SendText { text, .. } = &mut retry.command {
        *text = "hi again".into();
    }
    assert_eq!(
        c.submit(&retry, None).await.unwrap(),
        Submitted::Pending(erased(&request)),
        "a failed request comes back under its own message id"
    );
    assert_eq!(
        c.wait_outcome(&s, &request.id, Duration::ZERO)
            .await
            .unwrap(),
        None,
        "queued again: no outcome yet"
    );
    let mut resent = request.clone();
    if let Command::SendText { text, .. } = &mut resent.command {
        *text = "hi again".into();
    }
    assert_eq!(
        c.claim(&s, &lease, Duration::ZERO).await.unwrap(),
        vec![resent.clone()],
        "the earlier id and message id, with the retry's payload"
    );
    c.finish(&resent, &lease, &Outcome::of(&Ok(())))
        .await
        .unwrap();
    assert_eq!(
        c.submit(&send(&s, Some("k"), "3EB17"), None).await.unwrap(),
        Submitted::AlreadyDone(erased(&request))
    );
}

async fn only_unclaimed_requests_can_be_withdrawn<C: Coordination>(c: &Arc<C>) {
    let s = session("withdrawn");
    let lease = c.try_lease(&s).await.unwrap().unwrap();
    let first = send(&s, Some("k"), "3EB18");
    c.submit(&first, None).await.unwrap();
    assert!(c.withdraw(&first.id).await.unwrap());
    assert_eq!(
        c.wait_outcome(&s, &first.id, Duration::ZERO)
            .await
            .unwrap_err()
            .code(),
        "STORE_ERROR",
        "a withdrawn request is gone"
    );
    assert!(c.message("3EB18").await.unwrap().is_none());
    assert!(
        c.claim(&s, &lease, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "a withdrawn request is not carried out"
    );
    let again = send(&s, Some("k"), "3EB19");
    assert_eq!(
        c.submit(&again, None).await.unwrap(),
        Submitted::Queued,
        "its idempotency key is free again"
    );
    assert_eq!(
        c.claim(&s, &lease, Duration::ZERO).await.unwrap(),
        vec![again.clone()]
    );
    assert!(
        !c.withdraw(&again.id).await.unwrap(),
        "a claimed request stays"
    );
}

async fn statuses_and_deliveries_are_shared_and_forget_clears_the_session<C: Coordination>(
    owner: &Arc<C>,
    follower: &Arc<C>,
) {
    let s = session("shared");
    let status = SharedStatus::new(&SessionStatus::new(s.as_str()), None, None);
    owner.publish(&status).await.unwrap();
    assert_eq!(follower.status(&s).await.unwrap(), Some(status));
    assert!(follower.sessions().await.unwrap().contains(&s));

    let lease = owner.try_lease(&s).await.unwrap().unwrap();
    let sent = send(&s, Some("k"), "3EB1A");
    follower.submit(&sent, None).await.unwrap();
    owner.claim(&s, &lease, Duration::ZERO).await.unwrap();
    owner
        .finish(&sent, &lease, &Outcome::of(&Ok(())))
        .await
        .unwrap();
    owner
        .record_delivery("3EB1A", &DeliveryStatus::Delivered)
        .await
        .unwrap();
    let record = follower.message("3EB1A").await.unwrap().unwrap();
    assert_eq!(record.status, DeliveryStatus::Delivered);
    assert_eq!(
        (record.session.as_str(), record.to.as_str()),
        (s.as_str(), "628111")
    );
    let failed = DeliveryStatus::Failed {
        reason: "blocked".into(),
    };
    owner.record_delivery("3EB1A", &failed).await.unwrap();
    assert_eq!(
        follower.message("3EB1A").await.unwrap().unwrap().status,
        failed
    );

    let queued = send(&s, None, "3EB1B");
    follower.submit(&queued, None).await.unwrap();
    owner.forget(&s).await.unwrap();
    assert_eq!(follower.status(&s).await.unwrap(), None);
    assert!(!follower.sessions().await.unwrap().contains(&s));
    assert!(follower.message("3EB1A").await.unwrap().is_none());
    assert_eq!(
        follower
            .wait_outcome(&s, &queued.id, Duration::ZERO)
            .await
            .unwrap_err()
            .code(),
        "STORE_ERROR",
        "queued requests go with the session"
    );
    assert_eq!(
        follower
            .submit(&send(&s, Some("k"), "3EB1C"), None)
            .await
            .unwrap(),
        Submitted::Queued,
        "its idempotency keys are gone"
    );
}
