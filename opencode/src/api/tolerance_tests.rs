//! Every typed answer decodes tolerantly: a sample of each operation's JSON response, built from the document's
//! own schema with an unknown member added to every object, decodes through the generated type and serializes
//! back unchanged (unknown members kept, unknown enum values kept).

use serde_json::{json, Map, Value};

use crate::generated::types::{Event, V2Event};
use crate::generated::OPERATIONS;

const DOC: &str = include_str!("../openapi-1.18.34.json");

struct Sampler<'a> {
    schemas: &'a Map<String, Value>,
    /// Which member of each union to pick this round.
    round: usize,
    depth: usize,
}

impl Sampler<'_> {
    fn sample(&mut self, s: &Value) -> Value {
        self.depth += 1;
        let v = self.inner(s);
        self.depth -= 1;
        v
    }

    fn inner(&mut self, s: &Value) -> Value {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap();
            let target = self.schemas[name].clone();
            return self.sample(&target);
        }
        if let Some(members) = s
            .get("anyOf")
            .or_else(|| s.get("oneOf"))
            .and_then(Value::as_array)
        {
            let non_null: Vec<&Value> = members
                .iter()
                .filter(|m| m.get("type") != Some(&json!("null")))
                .collect();
            if non_null.is_empty() {
                return Value::Null;
            }
            let pick = non_null[self.round % non_null.len()].clone();
            return self.sample(&pick);
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            return e[self.round % e.len()].clone();
        }
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        match s.get("type").and_then(Value::as_str) {
            Some("string") => json!("text"),
            Some("number") => json!(1.5),
            Some("integer") => json!(7),
            Some("boolean") => json!(true),
            Some("null") => Value::Null,
            Some("array") => match s.get("items") {
                Some(items) if self.depth < 12 => json!([self.sample(items)]),
                _ => json!([]),
            },
            _ => {
                let mut out = Map::new();
                let required: Vec<&str> = s
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(props) = s.get("properties").and_then(Value::as_object) {
                    for (k, p) in props {
                        // Deep optional members are left out so recursive schemas end.
                        if self.depth < 10 || required.contains(&k.as_str()) {
                            out.insert(k.clone(), self.sample(p));
                        }
                    }
                    out.insert("x-plue-unknown".into(), json!({"kept": [1, "two"]}));
                } else if let Some(ap) = s
                    .get("additionalProperties")
                    .filter(|a| a.as_object().is_some_and(|m| !m.is_empty()))
                {
                    if self.depth < 12 {
                        let v = self.sample(ap);
                        out.insert("key".into(), v);
                    }
                } else {
                    out.insert("free".into(), json!([1, {"a": null}]));
                }
                Value::Object(out)
            }
        }
    }
}

fn doc() -> Value {
    serde_json::from_str(DOC).unwrap()
}

#[test]
fn opencode_api_every_json_answer_decodes_with_unknown_members_kept() {
    let doc = doc();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for info in OPERATIONS {
        let Some(decode) = info.decode else { continue };
        let op = &doc["paths"][info.path][info.method.to_ascii_lowercase()];
        let (_, ok) = op["responses"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.starts_with('2'))
            .unwrap();
        let schema = &ok["content"]["application/json"]["schema"];
        for round in 0..4 {
            let mut s = Sampler {
                schemas,
                round,
                depth: 0,
            };
            let sample = s.sample(schema);
            let bytes = serde_json::to_vec(&sample).unwrap();
            match decode(&bytes) {
                Ok(back) if back == sample => {}
                Ok(back) => failures.push(format!(
                    "{} round {round}: changed\n  in:  {sample}\n  out: {back}",
                    info.id
                )),
                Err(e) => failures.push(format!("{} round {round}: {e}\n  in: {sample}", info.id)),
            }
            checked += 1;
        }
    }
    assert!(checked >= 4 * 150, "only {checked} samples");
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn union_samples(union: &str) -> Vec<(String, Value)> {
    let doc = doc();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut out = Vec::new();
    for m in schemas[union]["anyOf"].as_array().unwrap() {
        let name = m["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let mut s = Sampler {
            schemas,
            round: 0,
            depth: 0,
        };
        out.push((name, s.sample(m)));
    }
    out
}

#[test]
fn opencode_api_every_event_member_decodes_to_its_variant() {
    let samples = union_samples("Event");
    assert_eq!(samples.len(), 89);
    for (name, sample) in samples {
        let ev: Event =
            serde_json::from_value(sample.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!ev.is_unknown(), "{name} decoded to Unknown");
        assert_eq!(ev.tag(), sample["type"].as_str(), "{name}");
        assert_eq!(serde_json::to_value(&ev).unwrap(), sample, "{name}");
    }
    let samples = union_samples("V2Event");
    assert_eq!(samples.len(), 88);
    for (name, sample) in samples {
        let ev: V2Event =
            serde_json::from_value(sample.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!ev.is_unknown(), "{name} decoded to Unknown");
        assert_eq!(serde_json::to_value(&ev).unwrap(), sample, "{name}");
    }
}

#[test]
fn opencode_api_heartbeat_is_typed_and_unknown_events_are_kept() {
    let hb: Event =
        serde_json::from_str(r#"{"id":"evt_1","type":"server.heartbeat","properties":{}}"#)
            .unwrap();
    assert!(matches!(hb, Event::ServerHeartbeat(_)));
    let hb: V2Event =
        serde_json::from_str(r#"{"id":"evt_1","type":"server.heartbeat","data":{}}"#).unwrap();
    assert!(matches!(hb, V2Event::ServerHeartbeat(_)));
    let raw = json!({"id": "evt_2", "type": "session.teleported", "properties": {"where": "mars"}});
    let ev: Event = serde_json::from_value(raw.clone()).unwrap();
    assert!(ev.is_unknown());
    assert_eq!(ev.tag(), Some("session.teleported"));
    assert_eq!(serde_json::to_value(&ev).unwrap(), raw);
}

#[test]
fn opencode_api_real_chat_events_decode_to_typed_variants() {
    // A real 1.18.34 `/event` capture of a scripted chat.
    let mut seen = 0;
    for line in fixture!("event_chat.txt").lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let ev: Event = serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data}"));
        assert!(!ev.is_unknown(), "Unknown: {data}");
        // `number` members come back as floats (0 → 0.0): compare numerically.
        assert_eq!(
            numeric(serde_json::to_value(&ev).unwrap()),
            numeric(serde_json::from_str::<Value>(data).unwrap())
        );
        seen += 1;
    }
    assert!(seen > 10, "{seen}");
}

/// Every number as a float, so `0` and `0.0` compare equal.
pub(crate) fn numeric(v: Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.into_iter().map(numeric).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, numeric(v))).collect()),
        other => other,
    }
}
