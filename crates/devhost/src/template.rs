//! `{{ name }}` expressions in manifest strings (trigger addresses and
//! channels, `allowed_outbound_hosts`, component variable values). Owns
//! parsing and rendering only; where values come from is `variables`.

use std::collections::HashMap;

use anyhow::{Context, bail};

use crate::variables::validate_name;

/// A string split into literal text and variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    /// Parses `text`. Like Spin, `{{` opens an expression that runs to the
    /// next `}}`; the expression (trimmed) must be a valid variable name.
    pub fn parse(text: &str) -> anyhow::Result<Template> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{{") {
                let Some((expr, tail)) = after.split_once("}}") else {
                    bail!("unmatched '{{{{' in {text:?}");
                };
                let name = expr.trim();
                validate_name(name).with_context(|| format!("in expression {text:?}"))?;
                parts.push(Part::Var(name.to_string()));
                rest = tail;
            } else {
                let end = rest.find("{{").unwrap_or(rest.len());
                parts.push(Part::Lit(rest[..end].to_string()));
                rest = &rest[end..];
            }
        }
        Ok(Template { parts })
    }

    /// The variable names this template refers to.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            Part::Lit(_) => None,
        })
    }

    /// Substitutes every reference from `values`; a name missing there is an
    /// error naming it.
    pub fn render(&self, values: &HashMap<String, String>) -> anyhow::Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(lit) => out.push_str(lit),
                Part::Var(name) => match values.get(name) {
                    Some(value) => out.push_str(value),
                    None => bail!("no application variable named {name:?}"),
                },
            }
        }
        Ok(out)
    }
}

/// Parses and renders `text` in one go, naming `what` in any error.
pub fn expand(text: &str, values: &HashMap<String, String>, what: &str) -> anyhow::Result<String> {
    Template::parse(text)
        .and_then(|t| t.render(values))
        .with_context(|| format!("failed to resolve {what} {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> HashMap<String, String> {
        HashMap::from([
            (
                "redis_address".to_string(),
                "redis://127.0.0.1:6379".to_string(),
            ),
            ("channel".to_string(), "jobs".to_string()),
        ])
    }

    #[test]
    fn a_plain_string_renders_unchanged() {
        assert_eq!(
            Template::parse("jobs").unwrap().render(&values()).unwrap(),
            "jobs"
        );
    }

    #[test]
    fn expressions_are_substituted_with_or_without_spaces() {
        let t = Template::parse("{{redis_address}}/{{ channel }}!").unwrap();
        assert_eq!(t.render(&values()).unwrap(), "redis://127.0.0.1:6379/jobs!");
        assert_eq!(
            t.references().collect::<Vec<_>>(),
            ["redis_address", "channel"]
        );
    }

    #[test]
    fn an_unknown_variable_is_an_error_naming_it() {
        let err = Template::parse("{{ nope }}")
            .unwrap()
            .render(&values())
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn an_unclosed_expression_is_an_error() {
        assert!(Template::parse("{{ channel").is_err());
    }

    #[test]
    fn an_invalid_name_in_an_expression_is_an_error() {
        assert!(Template::parse("{{ Channel }}").is_err());
    }
}
