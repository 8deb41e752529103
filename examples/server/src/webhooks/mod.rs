//! Webhooks: every event of the gateway, POSTed as signed JSON to the
//! operator's endpoints (work in progress: the signature so far).

pub mod signature;
