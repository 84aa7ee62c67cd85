//! openapi.yaml as a contract: the document, and a validator for any schema in it (JSON
//! Schema 2020-12, with formats asserted, by `boon`) that checks answers and request bodies.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::Answer;
use serde_json::{json, Value};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Where the document is registered with the validator (never fetched).
const SPEC_URL: &str = "http://contract.invalid/openapi.json";

/// The document, and a validator for any schema in it.
pub(super) struct Contract {
    pub(super) spec: Value,
    compiler: boon::Compiler,
    schemas: boon::Schemas,
    /// (method, template, status) answers checked so far.
    pub(super) seen: BTreeSet<(String, String, u16)>,
}

pub(super) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Contract {
    pub(super) fn load() -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml");
        let text = std::fs::read_to_string(&path).expect("openapi.yaml exists");
        let spec: Value = serde_norway::from_str(&text).expect("openapi.yaml is valid YAML");
        assert!(
            spec["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "schemas are read as JSON Schema 2020-12, so the document must be OpenAPI 3.1"
        );
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.enable_format_assertions();
        compiler
            .add_resource(SPEC_URL, spec.clone())
            .expect("document registered");
        Self {
            spec,
            compiler,
            schemas: boon::Schemas::new(),
            seen: BTreeSet::new(),
        }
    }

    /// Every (METHOD, path template) the document describes.
    pub(super) fn operations(&self) -> BTreeSet<(String, String)> {
        let paths = self.spec["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect()
    }

    /// Follows local `$ref`s from a JSON pointer to the object it ends at.
    pub(super) fn resolve(&self, pointer: String) -> Option<String> {
        let value = self.spec.pointer(&pointer)?;
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let target = r.strip_prefix('#').expect("only local $refs").to_string();
                self.resolve(target)
            }
            None => Some(pointer),
        }
    }

    pub(super) fn operation_pointer(method: &str, template: &str) -> String {
        format!("/paths/{}/{}", escape(template), method.to_lowercase())
    }

    /// The response object (after `$ref`s) the document gives for this status.
    pub(super) fn response_pointer(
        &self,
        method: &str,
        template: &str,
        status: u16,
    ) -> Option<String> {
        let op = Self::operation_pointer(method, template);
        assert!(
            self.spec.pointer(&op).is_some(),
            "{method} {template} is not in openapi.yaml"
        );
        self.resolve(format!("{op}/responses/{status}"))
    }

    pub(super) fn validate_at(
        &mut self,
        schema_pointer: &str,
        instance: &Value,
    ) -> Result<(), String> {
        assert!(
            self.spec.pointer(schema_pointer).is_some(),
            "no schema at {schema_pointer}"
        );
        let index = self
            .compiler
            .compile(&format!("{SPEC_URL}#{schema_pointer}"), &mut self.schemas)
            .map_err(|e| format!("schema at {schema_pointer} does not compile: {e:#}"))?;
        self.schemas
            .validate(instance, index)
            .map_err(|e| format!("{e:#}"))
    }

    /// The answer's status is documented for the operation, its body validates against that
    /// response's schema, and its own headers (Allow, idempotent-replayed) are documented there.
    pub(super) fn check(&mut self, method: &str, template: &str, answer: &Answer) {
        let Some(response) = self.response_pointer(method, template, answer.status) else {
            panic!(
                "{method} {template} answered {} which openapi.yaml does not document: {}",
                answer.status, answer.body
            );
        };
        self.check_response(&response, &format!("{method} {template}"), answer);
        self.seen
            .insert((method.into(), template.into(), answer.status));
    }

    /// Like `check`, against a shared response of `components/responses`.
    pub(super) fn check_component(&mut self, name: &str, answer: &Answer) {
        let response = format!("/components/responses/{name}");
        self.check_response(&response, name, answer);
    }

    pub(super) fn check_response(&mut self, response: &str, what: &str, answer: &Answer) {
        let schema = format!("{response}/content/application~1json/schema");
        if let Err(err) = self.validate_at(&schema, &answer.body) {
            panic!(
                "{what} {}: body does not match {schema}:\n{err}\nbody: {}",
                answer.status, answer.body
            );
        }
        let documented = self
            .spec
            .pointer(&format!("{response}/headers"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for ours in ["allow", "idempotent-replayed"] {
            let Some(value) = answer.headers.get(ours) else {
                continue;
            };
            let Some((name, _)) = documented
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(ours))
            else {
                panic!("{what} {}: header {ours} is not documented", answer.status);
            };
            let pointer = format!("{response}/headers/{}/schema", escape(name));
            let value = json!(value.to_str().unwrap());
            if let Err(err) = self.validate_at(&pointer, &value) {
                panic!("{what}: header {ours}: {value} does not match: {err}");
            }
        }
    }

    /// Validates a request body against the operation's requestBody schema; `valid` says
    /// whether it should pass (so the schema is exactly as strict as the handler).
    pub(super) fn check_request(
        &mut self,
        method: &str,
        template: &str,
        body: &Value,
        valid: bool,
    ) {
        let pointer = format!(
            "{}/requestBody/content/application~1json/schema",
            Self::operation_pointer(method, template)
        );
        let result = self.validate_at(&pointer, body);
        assert_eq!(
            result.is_ok(),
            valid,
            "{method} {template} request {body}: {result:?}"
        );
    }
}
