//! Application variables: name rules, and the precedence that gives each its
//! value (`--variable` over `SPIN_VARIABLE_<NAME>` over the manifest default),
//! and the component-scoped view a guest reads through `fermyon:spin/variables`.
//! Owns no I/O: the caller passes the command line and environment in.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, bail};

use crate::manifest::VariableDecl;
use crate::template::Template;

/// Checks a variable name the way Spin does: non-empty, lowercase ASCII
/// letters, digits and single underscores, starting with a letter and ending
/// with a letter or digit.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name
        .chars()
        .any(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    {
        "may contain only lower-case letters, numbers, and underscores"
    } else if !name.as_bytes()[0].is_ascii_lowercase() {
        "must start with a lowercase ASCII letter"
    } else if !name.as_bytes()[name.len() - 1].is_ascii_alphanumeric() {
        "must end with a lowercase ASCII letter or digit"
    } else if name.contains("__") {
        "must not contain multiple consecutive underscores"
    } else {
        return Ok(());
    };
    bail!("invalid variable name {name:?}: {reason}")
}

/// Parses one `--variable NAME=VALUE` argument.
pub fn parse_cli_variable(arg: &str) -> anyhow::Result<(String, String)> {
    let Some((name, value)) = arg.split_once('=') else {
        bail!("invalid --variable {arg:?}: expected NAME=VALUE");
    };
    let name = name.trim();
    validate_name(name).with_context(|| format!("invalid --variable {arg:?}"))?;
    Ok((name.to_string(), value.to_string()))
}

/// The environment variable that can set application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// Resolves every declared application variable. `cli` wins over `env`
/// (looked up as `SPIN_VARIABLE_<NAME>`), which wins over the default. A
/// required variable with no value is an error; a `--variable` the manifest
/// does not declare is ignored, as Spin ignores it.
pub fn resolve_application(
    declared: &BTreeMap<String, VariableDecl>,
    cli: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for (name, decl) in declared {
        validate_name(name).context("in [variables]")?;
        let from_cli = cli
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone());
        let value = from_cli
            .or_else(|| env(&env_name(name)))
            .or_else(|| decl.default.clone());
        match value {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => bail!(
                "required variable {name:?} has no value: pass --variable {name}=VALUE or set {}",
                env_name(name)
            ),
        }
    }
    Ok(values)
}

/// Renders a component's `[component.ID.variables]` over the application
/// values, so a guest's `get` is a map lookup.
pub fn resolve_component(
    component_id: &str,
    templates: &BTreeMap<String, String>,
    app_values: &HashMap<String, String>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (name, text) in templates {
        validate_name(name).with_context(|| format!("in [component.{component_id}.variables]"))?;
        let value = Template::parse(text)
            .and_then(|t| t.render(app_values))
            .with_context(|| {
                format!("failed to resolve component.{component_id}.variables.{name} ({text:?})")
            })?;
        out.insert(name.clone(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>) -> VariableDecl {
        VariableDecl {
            default: default.map(str::to_string),
            required: default.is_none(),
            secret: false,
        }
    }

    fn declared() -> BTreeMap<String, VariableDecl> {
        BTreeMap::from([
            ("greeting".to_string(), decl(Some("hello"))),
            ("token".to_string(), decl(None)),
        ])
    }

    #[test]
    fn names_follow_spins_rules() {
        for ok in ["a", "redis_address", "a1", "x_2_y"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "1a", "_a", "a_", "a__b", "a-b", "Greeting"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_beats_the_environment_which_beats_the_default() {
        let env = |name: &str| match name {
            "SPIN_VARIABLE_GREETING" => Some("from env".to_string()),
            "SPIN_VARIABLE_TOKEN" => Some("t".to_string()),
            _ => None,
        };
        let none = |_: &str| None;
        let cli = vec![("greeting".to_string(), "from cli".to_string())];

        let with_cli = resolve_application(&declared(), &cli, &env).unwrap();
        let with_env = resolve_application(&declared(), &[], &env).unwrap();
        let default = resolve_application(
            &declared(),
            &[("token".to_string(), "x".to_string())],
            &none,
        )
        .unwrap();

        assert_eq!(with_cli["greeting"], "from cli");
        assert_eq!(with_env["greeting"], "from env");
        assert_eq!(default["greeting"], "hello");
    }

    #[test]
    fn a_required_variable_without_a_value_is_an_error_naming_it() {
        let err = resolve_application(&declared(), &[], &|_: &str| None).unwrap_err();
        assert!(format!("{err:#}").contains("token"), "{err:#}");
    }

    #[test]
    fn an_undeclared_command_line_variable_is_ignored() {
        let cli = vec![("nope".to_string(), "1".to_string())];
        let values = resolve_application(&declared(), &cli, &|_: &str| Some("t".into())).unwrap();
        assert!(!values.contains_key("nope"));
    }

    #[test]
    fn cli_variables_parse_at_the_first_equals_sign() {
        assert_eq!(
            parse_cli_variable("url=http://x/?a=b").unwrap(),
            ("url".to_string(), "http://x/?a=b".to_string())
        );
        assert!(parse_cli_variable("novalue").is_err());
        assert!(parse_cli_variable("Bad=1").is_err());
    }

    #[test]
    fn component_variables_are_templates_over_application_values() {
        let app = HashMap::from([("greeting".to_string(), "hi".to_string())]);
        let templates =
            BTreeMap::from([("message".to_string(), "{{ greeting }}, you".to_string())]);
        let out = resolve_component("web", &templates, &app).unwrap();
        assert_eq!(out["message"], "hi, you");

        let bad = BTreeMap::from([("message".to_string(), "{{ missing }}".to_string())]);
        assert!(resolve_component("web", &bad, &app).is_err());
    }
}
