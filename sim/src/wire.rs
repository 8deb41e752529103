//! Every wire fact the simulator relies on: node tags, namespaces, attribute
//! values and server JIDs. Keep them here so a protocol change is updated in
//! one place.

/// The server JID as it appears in `from` attributes (`s.whatsapp.net`).
pub const SERVER_JID: &str = "s.whatsapp.net";
/// Server part of phone-number JIDs.
pub const PN_SERVER: &str = "s.whatsapp.net";
/// Server part of LID JIDs.
pub const LID_SERVER: &str = "lid";
/// WebSocket path the client connects to.
pub const WS_PATH: &str = "/ws/chat";

/// Stanza tags.
pub mod tag {
    /// Info/query request or response.
    pub const IQ: &str = "iq";
    /// Chat message.
    pub const MESSAGE: &str = "message";
    /// Server acknowledgement.
    pub const ACK: &str = "ack";
    /// Delivery / read / retry receipt.
    pub const RECEIPT: &str = "receipt";
    /// Retry request child of a retry receipt.
    pub const RETRY: &str = "retry";
    /// Server notification.
    pub const NOTIFICATION: &str = "notification";
    /// Login accepted.
    pub const SUCCESS: &str = "success";
    /// Login refused.
    pub const FAILURE: &str = "failure";
    /// Stream error (515 restart, 401 logout, conflict).
    pub const STREAM_ERROR: &str = "stream:error";
    /// Conflict child of a stream error.
    pub const CONFLICT: &str = "conflict";
    /// Info bulletin (offline sync markers).
    pub const IB: &str = "ib";
    /// Offline marker inside `<ib>`.
    pub const OFFLINE: &str = "offline";
    /// QR pairing refs container.
    pub const PAIR_DEVICE: &str = "pair-device";
    /// One QR ref.
    pub const REF: &str = "ref";
    /// Phone confirms pairing.
    pub const PAIR_SUCCESS: &str = "pair-success";
    /// Companion's signature answer to pair-success.
    pub const PAIR_DEVICE_SIGN: &str = "pair-device-sign";
    /// Signed ADV identity bytes.
    pub const DEVICE_IDENTITY: &str = "device-identity";
    /// Device JIDs in pair-success.
    pub const DEVICE: &str = "device";
    /// Business name in pair-success.
    pub const BIZ: &str = "biz";
    /// Platform in pair-success.
    pub const PLATFORM: &str = "platform";
    /// Encrypted payload.
    pub const ENC: &str = "enc";
    /// Per-device fan-out container.
    pub const PARTICIPANTS: &str = "participants";
    /// One fan-out recipient.
    pub const TO: &str = "to";
    /// Passive/active IQ children.
    pub const ACTIVE: &str = "active";
    /// Passive IQ child.
    pub const PASSIVE: &str = "passive";
    /// App-state sync container.
    pub const SYNC: &str = "sync";
    /// App-state collection.
    pub const COLLECTION: &str = "collection";
    /// USync container.
    pub const USYNC: &str = "usync";
    /// USync query protocols.
    pub const QUERY: &str = "query";
    /// USync user list / prekey list.
    pub const LIST: &str = "list";
    /// USync / prekey user.
    pub const USER: &str = "user";
    /// One more message id in a receipt's `<list>`.
    pub const ITEM: &str = "item";
    /// USync result container.
    pub const RESULT: &str = "result";
    /// USync contact protocol.
    pub const CONTACT: &str = "contact";
    /// USync devices protocol.
    pub const DEVICES: &str = "devices";
    /// USync device list.
    pub const DEVICE_LIST: &str = "device-list";
    /// USync signed key-index list (beside `<device-list>`).
    pub const KEY_INDEX_LIST: &str = "key-index-list";
    /// USync lid protocol.
    pub const LID: &str = "lid";
    /// Prekey fetch container.
    pub const KEY: &str = "key";
    /// Prekey upload: registration id.
    pub const REGISTRATION: &str = "registration";
    /// Prekey upload: identity key.
    pub const IDENTITY: &str = "identity";
    /// Prekey upload: signed prekey.
    pub const SKEY: &str = "skey";
    /// Pair-code stage container.
    pub const LINK_CODE_COMPANION_REG: &str = "link_code_companion_reg";
    /// Pair-code ref.
    pub const LINK_CODE_PAIRING_REF: &str = "link_code_pairing_ref";
    /// Companion's wrapped ephemeral key (stage 1).
    pub const WRAPPED_COMPANION_EPHEMERAL: &str =
        "link_code_pairing_wrapped_companion_ephemeral_pub";
    /// Primary's wrapped ephemeral key (stage 2 notification).
    pub const WRAPPED_PRIMARY_EPHEMERAL: &str = "link_code_pairing_wrapped_primary_ephemeral_pub";
    /// Primary identity key (stage 2 notification).
    pub const PRIMARY_IDENTITY_PUB: &str = "primary_identity_pub";
    /// Companion's wrapped key bundle (companion_finish).
    pub const WRAPPED_KEY_BUNDLE: &str = "link_code_pairing_wrapped_key_bundle";
    /// Companion identity key (companion_finish).
    pub const COMPANION_IDENTITY_PUBLIC: &str = "companion_identity_public";
    /// Passkey gate: WebAuthn request options (JSON bytes), in the
    /// `passkey_prologue_request` notification and its `get` IQ.
    pub const PASSKEY_REQUEST_OPTIONS: &str = "passkey_request_options";
    /// Passkey gate: the companion's assertion + ephemeral identity (`set` IQ).
    pub const PASSKEY_PROLOGUE: &str = "passkey_prologue";
    /// Passkey gate: the credential's raw id (in `passkey_prologue`).
    pub const CREDENTIAL_ID: &str = "credential_id";
    /// Passkey gate: the WebAuthn assertion JSON (in `passkey_prologue`).
    pub const WEBAUTHN_ASSERTION: &str = "webauthn_assertion";
    /// Passkey gate: `ProloguePayload` protobuf (in `passkey_prologue`).
    pub const PROLOGUE_PAYLOAD: &str = "prologue_payload";
    /// Passkey gate: the phone's `PrimaryEphemeralIdentity` protobuf
    /// (`crsc_continuation` notification).
    pub const PRIMARY_EPHEMERAL_IDENTITY: &str = "primary_ephemeral_identity";
    /// Passkey gate: the companion's revealed nonce (`set` IQ).
    pub const COMPANION_NONCE: &str = "companion_nonce";
    /// Passkey gate: `EncryptedPairingRequest` protobuf (`set` IQ).
    pub const ENCRYPTED_PAIRING_REQUEST: &str = "encrypted_pairing_request";
}

/// IQ namespaces (`xmlns`).
pub mod ns {
    /// Multi-device pairing.
    pub const MD: &str = "md";
    /// Prekeys (upload, fetch, count, digest).
    pub const ENCRYPT: &str = "encrypt";
    /// User sync.
    pub const USYNC: &str = "usync";
    /// App-state sync.
    pub const APP_STATE: &str = "w:sync:app:state";
    /// Passive / active mode.
    pub const PASSIVE: &str = "passive";
    /// A/B props (`<props protocol="1"/>`).
    pub const PROPS: &str = "abt";
    /// Privacy settings.
    pub const PRIVACY: &str = "privacy";
    /// MEX: WhatsApp's GraphQL queries (persisted, by `query_id`).
    pub const MEX: &str = "w:mex";
}

/// Attribute values.
pub mod val {
    /// Stream error code that tells the client to reconnect (after pairing).
    pub const CODE_RESTART: &str = "515";
    /// Logout reason/code.
    pub const CODE_LOGGED_OUT: &str = "401";
    /// Login failure reason of a temporarily banned account.
    pub const CODE_TEMP_BANNED: &str = "402";
    /// Conflict type of a device the account's phone removed.
    pub const CONFLICT_DEVICE_REMOVED: &str = "device_removed";
    /// Conflict type for a replaced stream.
    pub const CONFLICT_REPLACED: &str = "replaced";
    /// Receipt type asking the sender to resend a message the recipient's
    /// device could not decrypt.
    pub const RECEIPT_RETRY: &str = "retry";
    /// Version attribute of the `<retry>` child.
    pub const RETRY_VERSION: &str = "1";
    /// `<enc>` attribute the client puts on a resend: the retry count it
    /// answers (`wacore/src/send/dm.rs`, `prepare_pairwise_retry_stanza`).
    pub const ENC_RETRY_COUNT: &str = "count";
    /// Pair-code stage names.
    pub const STAGE_COMPANION_HELLO: &str = "companion_hello";
    /// Pair-code stage sent by the phone.
    pub const STAGE_PRIMARY_HELLO: &str = "primary_hello";
    /// Pair-code final companion stage.
    pub const STAGE_COMPANION_FINISH: &str = "companion_finish";
    /// Notification type for pair-code stages.
    pub const NOTIF_LINK_CODE: &str = "link_code_companion_reg";
    /// Notification asking the companion for a passkey assertion.
    pub const NOTIF_PASSKEY_REQUEST: &str = "passkey_prologue_request";
    /// Notification carrying the phone's ephemeral identity after an
    /// accepted assertion.
    pub const NOTIF_PASSKEY_CONTINUATION: &str = "crsc_continuation";
    /// Platform name the simulated phone reports.
    pub const PHONE_PLATFORM: &str = "android";
}

/// WebAuthn facts of WhatsApp's passkey gate.
pub mod webauthn {
    /// Relying-party id the passkeys are registered for.
    pub const RP_ID: &str = "whatsapp.com";
    /// Origin a browser reports in `clientDataJSON` for WhatsApp Web.
    pub const ORIGIN: &str = "https://web.whatsapp.com";
    /// `clientDataJSON.type` of an assertion.
    pub const TYPE_GET: &str = "webauthn.get";
    /// Authenticator-data flag: user present.
    pub const FLAG_UP: u8 = 0x01;
    /// Authenticator-data flag: user verified.
    pub const FLAG_UV: u8 = 0x04;
}
