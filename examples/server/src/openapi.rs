//! The OpenAPI 3.1 document of every route, served at `/api/openapi.json`.
//!
//! It is derived with `utoipa` from the handlers' own annotations and the
//! types they read and write (request bodies, the envelope around each
//! route's data, [`ErrorBody`]), so a client generated from it (as
//! integrators do for WAHA's Swagger) sees what the server actually sends.
//! A test holds it to the router: a route missing from the document, or a
//! documented route the router lacks, fails it.
//!
//! There is no docs page: a Swagger UI or Redoc page would load its
//! scripts from a CDN or ship a megabyte of them inside the binary; the
//! document opens in any such viewer, or in an editor, as it is.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::envelope::{EmptyEnvelope, ErrorBody};
use crate::routes::{health, inbound, messages, otp, sessions};
use crate::{inbound_page, qr_page};

/// The document's source: every handler, in the router's order.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "waotp-server",
        description = "OTP over WhatsApp from linked WhatsApp accounts: the reference guide's \
            REST API (same routes, fields and `{success, message, data}` envelope), plus \
            verification, inbound verification, delivery status, sender pools, account \
            health and metrics. `error` in an error body is a stable code. With an API key \
            configured, every route needs it (`X-API-Key` or `Authorization: Bearer`); a \
            server without one answers loopback clients only.",
    ),
    paths(
        health::health,
        health::metrics,
        document,
        sessions::list,
        sessions::create,
        sessions::status,
        sessions::qr,
        qr_page::page,
        sessions::pair_code,
        sessions::passkey,
        sessions::restart,
        sessions::remove,
        messages::format_phone,
        messages::status,
        messages::send_through_pool,
        messages::text,
        messages::otp,
        messages::generate_otp,
        otp::send,
        inbound::start,
        inbound_page::page,
        inbound::status,
        inbound::cancel,
        otp::verify,
        otp::status,
        otp::cancel,
    ),
    components(schemas(EmptyEnvelope, ErrorBody)),
    modifiers(&ApiKeys),
    security((), ("apiKey" = []), ("bearer" = [])),
    tags(
        (name = "sessions", description = "Linked WhatsApp accounts: create, link (QR code, pairing code, passkey), status, restart, delete"),
        (name = "messages", description = "Texts and codes from one session, and a message's delivery"),
        (name = "otp", description = "Codes through a sender pool; verify, status, cancel"),
        (name = "inbound", description = "The user sends the code: a wa.me link, approved when its text arrives"),
        (name = "server", description = "Liveness, metrics and this document"),
    ),
)]
pub struct ApiDoc;

/// Adds the two ways to pass the API key.
struct ApiKeys;

impl Modify for ApiKeys {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as JSON, built once.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the OpenAPI document serializes")
    })
}

/// `GET /api/openapi.json`: this document.
#[utoipa::path(get, path = "/api/openapi.json", operation_id = "openApiDocument", tag = "server",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document() -> Response {
    let mut response = document_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// `(method, path)` of every operation in the document.
    fn documented() -> BTreeSet<(String, String)> {
        let doc: Value = serde_json::from_str(document_json()).unwrap();
        let mut operations = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("a path item").keys() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
        operations
    }

    #[test]
    fn the_document_has_every_route_of_the_router_and_no_other() {
        let routed: BTreeSet<(String, String)> = crate::app::api_routes()
            .added()
            .iter()
            .map(|(method, path)| (method.to_string(), (*path).to_owned()))
            .collect();
        let documented = documented();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the OpenAPI document: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "documented routes the router does not have: {unrouted:?}"
        );
        assert!(routed.len() >= 26, "{} routes", routed.len());
    }

    #[test]
    fn every_operation_has_its_own_id() {
        let doc: Value = serde_json::from_str(document_json()).unwrap();
        let mut seen = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert!(
                    seen.insert(id.clone()),
                    "{method} {path}: operationId {id:?} twice"
                );
            }
        }
    }

    #[test]
    fn it_is_openapi_3_1_with_the_envelope_and_error_types() {
        let doc: Value = serde_json::from_str(document_json()).unwrap();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in [
            "ErrorBody",
            "OtpSent",
            "SessionView",
            "InboundStarted",
            "OtpBody",
        ] {
            assert!(
                schemas.contains_key(name),
                "no schema {name}: {:?}",
                schemas.keys()
            );
        }
        // A route's 200 answer is its data inside the envelope.
        let ok = &doc["paths"]["/api/otp/send"]["post"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"];
        let name = ok
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/");
        let envelope = &schemas[name]["properties"];
        assert_eq!(envelope["success"]["type"], "boolean", "{envelope}");
        let data = envelope["data"]["required"].to_string();
        assert!(data.contains("verificationId"), "{envelope}");
        let security = doc["components"]["securitySchemes"].as_object().unwrap();
        assert!(security.contains_key("apiKey") && security.contains_key("bearer"));
    }
}
