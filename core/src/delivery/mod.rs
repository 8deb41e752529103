//! What happens to the messages the gateway sends: the tracker (status by
//! message id), the report pipeline (server acks, receipts and failures
//! applied in order, to the OTP record, the shared outbox and the events),
//! and the lookups a send makes first (is the number on WhatsApp, its
//! normalised form).

mod bounded_map;
mod memory_bounds;
pub(crate) mod on_whatsapp;
pub(crate) mod phones;
mod reports;
pub(crate) mod tracker;

pub use crate::model::DeliveryStatus;
pub use memory_bounds::MemoryBounds;
pub(crate) use reports::Deliveries;
