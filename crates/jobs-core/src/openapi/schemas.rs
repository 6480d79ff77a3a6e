//! The JSON Schemas of the description's `components/schemas`: generated with `schemars`
//! from the types the API parses (as serde reads them) and serializes (as serde writes
//! them), plus the one schema per kind of the submission body.

use schemars::generate::{Contract, SchemaSettings};
use schemars::transform::{Transform, transform_subschemas};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::kind::JobKind;
use crate::kinds::{self, KindVisitor};
use crate::submission::SubmissionOptions;

/// Where the description keeps its named schemas.
const DEFINITIONS: &str = "/components/schemas";

/// The named schemas the description refers to, collected while its paths are built.
pub struct Schemas {
    /// Request bodies and parameters: what serde accepts (a `#[serde(default)]` field is
    /// optional).
    read: SchemaGenerator,
    /// Response bodies: what serde writes.
    written: SchemaGenerator,
    /// Schemas made here rather than derived (the submission body).
    made: Map<String, Value>,
}

/// A kind as the description shows it.
pub struct KindSchemas {
    pub name: &'static str,
    /// The submission of a job of this kind: a reference to its schema.
    pub submission: Value,
    /// Its result's media types, each with the result's schema.
    pub results: Vec<(&'static str, Value)>,
}

fn generator(contract: Contract) -> SchemaGenerator {
    SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = DEFINITIONS.into();
            s.meta_schema = None;
            s.contract = contract;
        })
        .with_transform(PlainEnums)
        .into_generator()
}

/// Writes an enum whose variants have doc comments (`oneOf` of one `const` each, as
/// schemars does) as a plain `enum` with the variants' descriptions in a list: what
/// client generators turn into an enum type.
#[derive(Clone)]
struct PlainEnums;

impl Transform for PlainEnums {
    fn transform(&mut self, schema: &mut Schema) {
        transform_subschemas(self, schema);
        let Some(Value::Array(variants)) = schema.get("oneOf") else {
            return;
        };
        let mut values = Vec::new();
        let mut lines = Vec::new();
        for variant in variants {
            let Some(value @ Value::String(name)) = variant.get("const") else {
                return;
            };
            if variant.as_object().is_some_and(|v| {
                v.keys()
                    .any(|k| !["const", "type", "description"].contains(&k.as_str()))
            }) {
                return;
            }
            if let Some(Value::String(text)) = variant.get("description") {
                lines.push(format!("- `{name}`: {}", text.replace('\n', " ")));
            }
            values.push(value.clone());
        }
        schema.remove("oneOf");
        schema.insert("type".into(), json!("string"));
        schema.insert("enum".into(), Value::Array(values));
        if !lines.is_empty() {
            let intro = schema
                .get("description")
                .and_then(Value::as_str)
                .map(|text| format!("{text}\n\n"))
                .unwrap_or_default();
            schema.insert(
                "description".into(),
                Value::String(format!("{intro}{}", lines.join("\n"))),
            );
        }
    }
}

/// A reference to the schema named `name`.
fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#{DEFINITIONS}/{name}") })
}

impl Default for Schemas {
    fn default() -> Self {
        Schemas::new()
    }
}

impl Schemas {
    pub fn new() -> Schemas {
        Schemas {
            read: generator(Contract::Deserialize),
            written: generator(Contract::Serialize),
            made: Map::new(),
        }
    }

    /// The schema of `T` as the API reads it (a reference when `T` is named).
    pub fn read<T: JsonSchema>(&mut self) -> Value {
        self.read.subschema_for::<T>().to_value()
    }

    /// The schema of `T` as the API writes it.
    pub fn written<T: JsonSchema>(&mut self) -> Value {
        self.written.subschema_for::<T>().to_value()
    }

    /// Adds a schema made by hand under `name`; returns a reference to it.
    fn make(&mut self, name: &str, schema: Value) -> Value {
        let old = self.made.insert(name.to_owned(), schema);
        assert!(old.is_none(), "two schemas named {name}");
        reference(name)
    }

    /// Every built-in kind, with the schemas of its submission and result.
    pub fn kinds(&mut self) -> Vec<KindSchemas> {
        struct Collect<'a> {
            schemas: &'a mut Schemas,
            kinds: Vec<KindSchemas>,
        }
        impl KindVisitor for Collect<'_> {
            fn visit<K: JobKind>(&mut self) {
                let kind = self.schemas.kind::<K>();
                self.kinds.push(kind);
            }
        }
        let mut collect = Collect {
            schemas: self,
            kinds: Vec::new(),
        };
        kinds::visit_builtin(&mut collect);
        collect.kinds
    }

    fn kind<K: JobKind>(&mut self) -> KindSchemas {
        let title = pascal_case(K::NAME);
        let input = self.read::<K::Input>();
        let mut properties = Map::new();
        properties.insert(
            "kind".into(),
            json!({ "const": K::NAME, "description": "The kind of work." }),
        );
        properties.insert("input".into(), input);
        properties.extend(submission_options());
        let submission = self.make(
            &format!("Submit{title}Job"),
            json!({
                "title": format!("Submit{title}Job"),
                "description": format!("A `{}` job.", K::NAME),
                "type": "object",
                "required": ["kind", "input"],
                "properties": properties,
                "additionalProperties": false,
            }),
        );
        let result = self.written::<K::Result>();
        let results = K::RESULT_MEDIA_TYPES
            .iter()
            .map(|media| (*media, result.clone()))
            .collect();
        KindSchemas {
            name: K::NAME,
            submission,
            results,
        }
    }

    /// The body of `POST /jobs`: one schema per kind, told apart by `kind`.
    pub fn submission(&mut self, kinds: &[KindSchemas]) -> Value {
        let mapping: Map<String, Value> = kinds
            .iter()
            .map(|k| (k.name.to_owned(), k.submission["$ref"].clone()))
            .collect();
        self.make(
            "SubmitJob",
            json!({
                "description": "A job to run: its kind, the kind's input, and options.",
                "oneOf": kinds.iter().map(|k| k.submission.clone()).collect::<Vec<_>>(),
                "discriminator": { "propertyName": "kind", "mapping": mapping },
            }),
        )
    }

    /// Every named schema. A name given to two different schemas (say, a type read and
    /// written differently) is a bug in the types, caught here.
    pub fn into_definitions(mut self) -> Map<String, Value> {
        let mut all = self.read.take_definitions(true);
        for (name, schema) in self
            .written
            .take_definitions(true)
            .into_iter()
            .chain(self.made)
        {
            if let Some(other) = all.get(&name) {
                assert_eq!(other, &schema, "two different schemas named {name}");
            }
            all.insert(name, schema);
        }
        all.sort_keys();
        all
    }
}

/// The properties of a submission beside `kind` and `input`.
fn submission_options() -> Map<String, Value> {
    let schema = generator(Contract::Deserialize).into_root_schema_for::<SubmissionOptions>();
    match schema.get("properties") {
        Some(Value::Object(properties)) => properties.clone(),
        _ => unreachable!("a struct's schema has properties"),
    }
}

/// `thumbnail` → `Thumbnail`, `word_count` → `WordCount`.
fn pascal_case(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_become_schema_names() {
        assert_eq!(pascal_case("thumbnail"), "Thumbnail");
        assert_eq!(pascal_case("word_count"), "WordCount");
    }

    #[test]
    fn every_builtin_kind_has_a_submission_schema_and_a_result() {
        let mut schemas = Schemas::new();
        let kinds = schemas.kinds();
        let names: Vec<_> = kinds.iter().map(|k| k.name).collect();
        assert_eq!(names, crate::kinds::Registry::builtin().names());
        for kind in &kinds {
            assert!(!kind.results.is_empty(), "{}", kind.name);
        }
        let defs = schemas.into_definitions();
        let hash = &defs["SubmitHashJob"];
        assert_eq!(hash["properties"]["kind"]["const"], "hash");
        assert_eq!(hash["additionalProperties"], false);
        assert_eq!(
            defs["HashInput"]["properties"]["iterations"]["maximum"],
            crate::kinds::hash::MAX_ITERATIONS
        );
        assert_eq!(
            hash["properties"]["max_attempts"]["maximum"],
            *crate::config::MAX_ATTEMPTS_RANGE.end()
        );
    }
}
