//! `/api/openapi.json` describes what the server actually answers: a flow
//! through every kind of answer (sessions, texts and codes, verification,
//! inbound verification, errors) is checked against the document the same
//! server serves (each field documented with its type, every required
//! field present, each status code listed for its route).

use serde_json::{Value, json};

use crate::harness::{Reply, Server, code_in};

/// Where `reference` (`#/components/schemas/Name`) points in `doc`.
fn resolve<'d>(doc: &'d Value, reference: &str) -> &'d Value {
    let name = reference
        .strip_prefix("#/components/schemas/")
        .unwrap_or_else(|| panic!("an unexpected reference {reference}"));
    &doc["components"]["schemas"][name]
}

/// Whether `value` has the JSON Schema type `kind`.
fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => panic!("a type this check does not know: {kind}"),
    }
}

/// What in `value` breaks `schema` (the subset of JSON Schema utoipa
/// writes), each problem with its place (`at`).
fn problems(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        return problems(doc, resolve(doc, reference), value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options
            .iter()
            .any(|option| problems(doc, option, value, at).is_empty());
        return if fits {
            vec![]
        } else {
            vec![format!("{at}: {value} fits none of {schema}")]
        };
    }
    let mut found = Vec::new();
    if let Some(parts) = schema["allOf"].as_array() {
        // Flattened structs: each part describes some of the fields, so
        // only the fields each part names are held to it.
        let mut named = serde_json::Map::new();
        for part in parts {
            let part = match part["$ref"].as_str() {
                Some(r) => resolve(doc, r),
                None => part,
            };
            for key in part["required"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap();
                if value.get(key).is_none() {
                    found.push(format!("{at}: required {key} is missing"));
                }
            }
            if let Some(props) = part["properties"].as_object() {
                named.extend(props.clone());
            }
        }
        let whole = json!({ "type": "object", "properties": named });
        found.extend(problems(doc, &whole, value, at));
        return found;
    }
    let kinds: Vec<&str> = match &schema["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !kinds.is_empty() && !kinds.iter().any(|kind| has_type(value, kind)) {
        found.push(format!("{at}: {value} is not of type {kinds:?}"));
        return found;
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap();
            if !object.contains_key(key) {
                found.push(format!("{at}: required {key} is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, field) in object {
            let place = format!("{at}.{key}");
            match (
                properties.and_then(|p| p.get(key)),
                schema.get("additionalProperties"),
            ) {
                (Some(sub), _) => found.extend(problems(doc, sub, field, &place)),
                (None, Some(sub)) if sub.is_object() => {
                    found.extend(problems(doc, sub, field, &place))
                }
                (None, _) if properties.is_some() => {
                    found.push(format!("{place} is not in the document"))
                }
                _ => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            found.extend(problems(doc, items, item, &format!("{at}[{i}]")));
        }
    }
    found
}

/// Fails unless `reply` is an answer the document lists for `method`
/// `template` (its status code), with a body that fits its schema.
fn assert_documented(doc: &Value, method: &str, template: &str, reply: &Reply) {
    let operation = &doc["paths"][template][method.to_lowercase()];
    assert!(
        operation.is_object(),
        "{method} {template} is not in the document"
    );
    let answer = &operation["responses"][reply.status.to_string()];
    assert!(
        answer.is_object(),
        "{method} {template} answered {}, which the document does not list: {}",
        reply.status,
        reply.text
    );
    let Some(schema) = answer["content"]["application/json"].get("schema") else {
        return;
    };
    let found = problems(doc, schema, &reply.json(), "body");
    assert!(
        found.is_empty(),
        "{method} {template} ({}) does not fit the document:\n{}",
        reply.status,
        found.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_server_answers_is_what_its_document_says() {
    let server = Server::start().await;
    let served = server.get("/api/openapi.json").await;
    assert_eq!(served.status, 200, "{}", served.text);
    assert_eq!(served.header("content-type"), Some("application/json"));
    let doc = served.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let check = |method: &str, template: &str, reply: &Reply| {
        assert_documented(&doc, method, template, reply)
    };

    check("GET", "/api/health", &server.get("/api/health").await);
    let created = server
        .post("/api/sessions/create", json!({ "sessionId": "shop" }))
        .await;
    check("POST", "/api/sessions/create", &created);
    check(
        "GET",
        "/api/sessions/{id}/qr",
        &server.get("/api/sessions/shop/qr").await,
    );
    let qr = server.wait_qr("shop").await;
    server
        .sim
        .scan(qr["qrPayload"].as_str().unwrap(), "6281111111901", "Shop")
        .await
        .unwrap();
    server.wait_connected("shop").await;
    check(
        "GET",
        "/api/sessions/{id}/status",
        &server.get("/api/sessions/shop/status").await,
    );
    check("GET", "/api/sessions", &server.get("/api/sessions").await);
    check(
        "GET",
        "/api/sessions/{id}/status",
        &server.get("/api/sessions/nobody/status").await,
    );

    let to = server.recipient("6281234567901");
    let text = server
        .post(
            "/api/messages/shop/text",
            json!({ "to": to, "message": "Halo" }),
        )
        .await;
    check("POST", "/api/messages/{id}/text", &text);
    let sent = server
        .post(
            "/api/messages/shop/otp",
            json!({ "to": to, "companyName": "Toko" }),
        )
        .await;
    check("POST", "/api/messages/{id}/otp", &sent);
    let message_id = sent.data(200)["messageId"].as_str().unwrap().to_owned();
    check(
        "GET",
        "/api/messages/status/{message_id}",
        &server
            .get(&format!("/api/messages/status/{message_id}"))
            .await,
    );
    check(
        "GET",
        "/api/otp/status/{phone}",
        &server.get(&format!("/api/otp/status/{to}")).await,
    );
    let wrong = server
        .post(
            "/api/otp/verify",
            json!({ "phoneNumber": to, "otp": "000000" }),
        )
        .await;
    let code = code_in(&server.inbox(&to, 2).await[1]);
    if code != "000000" {
        check("POST", "/api/otp/verify", &wrong);
    }
    let right = server
        .post("/api/otp/verify", json!({ "phoneNumber": to, "otp": code }))
        .await;
    assert_eq!(right.status, 200, "{}", right.text);
    check("POST", "/api/otp/verify", &right);
    check(
        "POST",
        "/api/otp/cancel",
        &server
            .post("/api/otp/cancel", json!({ "phoneNumber": to }))
            .await,
    );
    check(
        "POST",
        "/api/otp/send",
        &server.post("/api/otp/send", json!({ "to": to })).await,
    );
    check(
        "POST",
        "/api/messages/send",
        &server
            .post("/api/messages/send", json!({ "to": to, "message": "Lagi" }))
            .await,
    );

    let started = server.post("/api/otp/inbound", json!({})).await;
    check("POST", "/api/otp/inbound", &started);
    let id = started.data(200)["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    check(
        "GET",
        "/api/otp/inbound/{id}",
        &server.get(&format!("/api/otp/inbound/{id}")).await,
    );
    check(
        "POST",
        "/api/otp/inbound/{id}/cancel",
        &server
            .post(&format!("/api/otp/inbound/{id}/cancel"), json!({}))
            .await,
    );

    check(
        "GET",
        "/api/messages/format-phone/{phone}",
        &server
            .get("/api/messages/format-phone/0812-3456-7890")
            .await,
    );
    check(
        "GET",
        "/api/messages/{id}/generate-otp",
        &server.get("/api/messages/shop/generate-otp?length=8").await,
    );
    check(
        "PUT",
        "/api/sessions/{id}/restart",
        &server.put("/api/sessions/shop/restart").await,
    );
    check(
        "DELETE",
        "/api/sessions/{id}",
        &server.delete("/api/sessions/shop").await,
    );
}

/// The check itself catches a field the document lacks and a wrong type.
#[test]
fn the_check_refuses_an_undocumented_field_and_a_wrong_type() {
    let doc = json!({ "components": { "schemas": { "A": {
        "type": "object",
        "required": ["id"],
        "properties": { "id": { "type": "string" }, "n": { "type": ["integer", "null"] } }
    } } } });
    let schema = json!({ "$ref": "#/components/schemas/A" });
    assert!(problems(&doc, &schema, &json!({ "id": "x", "n": null }), "b").is_empty());
    assert_eq!(
        problems(&doc, &schema, &json!({ "id": "x", "extra": 1 }), "b").len(),
        1
    );
    assert_eq!(problems(&doc, &schema, &json!({ "id": 5 }), "b").len(), 1);
    assert_eq!(problems(&doc, &schema, &json!({}), "b").len(), 1);
}
