//! Webhooks: every event of the gateway, POSTed as signed JSON to the
//! operator's endpoints (work in progress: the signature and the queue so
//! far; the delivery task and the flags come next).

pub mod queue;
pub mod signature;
