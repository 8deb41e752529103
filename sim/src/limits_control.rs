//! The simulator's handles on an account's limits (see `limits.rs`): a
//! test sets a quota, starts a timelock, bans an account or removes a
//! device, and the account's companions hear of it as WhatsApp's would.

use wacore_binary::builder::NodeBuilder;

use crate::limits::{
    AutoTimelock, CappingInfo, LimitsSnapshot, NewChatQuota, RESTRICT_ALL_COMPANIONS,
};
use crate::state::now_secs;
use crate::wire::{tag, val};
use crate::{Simulator, digits, mex};

impl Simulator {
    /// Gives `phone`'s account a quota of new chats per cycle (`None`
    /// removes it); a cycle starts now. Messages to new chats beyond it are
    /// nacked with `475` until the cycle ends. The companions get the
    /// capping notification with the new state.
    pub fn set_new_chat_quota(
        &self,
        phone: &str,
        quota: Option<NewChatQuota>,
    ) -> Option<CappingInfo> {
        let phone = digits(phone);
        let info = self
            .shared
            .lock()
            .limits_mut(&phone)
            .set_quota(quota, now_secs());
        if let Some(info) = &info {
            mex::push(
                &self.shared,
                &phone,
                &mex::capping_notification(&self.shared, info),
            );
        }
        info
    }

    /// Starts timelocks by themselves after a burst of new chats (`None`
    /// turns that off).
    pub fn set_auto_timelock(&self, phone: &str, auto: Option<AutoTimelock>) {
        self.shared
            .lock()
            .limits_mut(&digits(phone))
            .set_auto_timelock(auto);
    }

    /// Timelocks `phone`'s account for `seconds` (0 lifts a timelock):
    /// messages to new chats are nacked with `463`, chats it already has
    /// still pass. `enforcement` defaults to `RESTRICT_ALL_COMPANIONS`. The
    /// companions are notified when it starts and when it ends.
    pub fn timelock(&self, phone: &str, seconds: u64, enforcement: Option<&str>) {
        let phone = digits(phone);
        let now = now_secs();
        let (info, generation) = {
            let mut st = self.shared.lock();
            let limits = st.limits_mut(&phone);
            let generation =
                limits.set_timelock(seconds, enforcement.unwrap_or(RESTRICT_ALL_COMPANIONS), now);
            (limits.timelock(now), generation)
        };
        mex::announce_timelock(&self.shared, &phone, info, generation);
    }

    /// Bans `phone`'s account for `seconds` (0 lifts a ban) with the ban
    /// sub-reason `code`. Its live connections are dropped; every login
    /// until the ban ends is refused with `<failure reason="402" code
    /// expire>` (whatsapp-rust: `Event::TemporaryBan`).
    pub fn ban(&self, phone: &str, seconds: u64, code: u32) {
        let phone = digits(phone);
        self.shared
            .lock()
            .limits_mut(&phone)
            .set_ban(seconds, code, now_secs());
        if seconds > 0 {
            for conn in self.shared.conns_for(Some(&phone)) {
                conn.kill();
            }
        }
    }

    /// The account's phone removes its linked devices: each live one gets
    /// `<stream:error code="401"><conflict type="device_removed"/>` (the
    /// client logs out) and the devices are forgotten, so a login with
    /// their keys is refused with `401`.
    pub fn remove_devices(&self, phone: &str) {
        let phone = digits(phone);
        if let Some(account) = self.shared.lock().accounts.get_mut(&phone) {
            account.devices.clear();
        }
        for conn in self.shared.conns_for(Some(&phone)) {
            conn.send(
                NodeBuilder::new(tag::STREAM_ERROR)
                    .attr("code", val::CODE_LOGGED_OUT)
                    .children([NodeBuilder::new(tag::CONFLICT)
                        .attr("type", val::CONFLICT_DEVICE_REMOVED)
                        .build()])
                    .build(),
            );
            conn.close();
        }
        self.shared.accounts_version.send_modify(|v| *v += 1);
    }

    /// Records that `phone`'s account has a chat with `number` (as if
    /// `number` had written first): messages to it are never limited.
    pub fn add_chat(&self, phone: &str, number: &str) {
        self.shared
            .lock()
            .limits_mut(&digits(phone))
            .add_chat(&digits(number));
    }

    /// `phone`'s chats, quota, timelock and ban now.
    pub fn account_limits(&self, phone: &str) -> LimitsSnapshot {
        self.shared
            .lock()
            .limits_mut(&digits(phone))
            .snapshot(now_secs())
    }
}
