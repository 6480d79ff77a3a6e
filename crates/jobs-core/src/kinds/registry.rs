//! The kinds a deployment offers, by name.

use std::collections::BTreeMap;
use std::fmt;

use crate::config::Settings;
use crate::kind::Kind;

/// The kinds a deployment offers, by name.
pub struct Registry {
    kinds: BTreeMap<&'static str, Box<dyn Kind>>,
}

impl Registry {
    /// No kinds at all (for tests that register their own).
    pub fn empty() -> Registry {
        Registry {
            kinds: BTreeMap::new(),
        }
    }

    /// Every built-in kind (see [`builtin`](super::builtin)).
    pub fn builtin() -> Registry {
        let mut registry = Registry::empty();
        for kind in super::builtin() {
            registry.register(kind);
        }
        registry
    }

    /// The kinds a deployment with `settings` offers: the built-in ones, plus the
    /// test-only ones ([`test_only`](super::test_only)) when `enable_test_kinds` is on.
    pub fn for_settings(settings: &Settings) -> Registry {
        let mut registry = Registry::builtin();
        if settings.enable_test_kinds {
            for kind in super::test_only() {
                registry.register(kind);
            }
        }
        registry
    }

    /// Adds a kind, replacing any kind of the same name.
    pub fn register(&mut self, kind: Box<dyn Kind>) {
        self.kinds.insert(kind.name(), kind);
    }

    /// The kind called `name`, if registered.
    pub fn get(&self, name: &str) -> Option<&dyn Kind> {
        self.kinds.get(name).map(|k| k.as_ref())
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.names())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::testing::{self, TestContext};
    use crate::kind::{InvalidInput, Output, RunContext, Running};
    use serde_json::{Value, json};

    #[test]
    fn the_builtin_registry_has_every_kind_of_the_design() {
        let registry = Registry::builtin();
        assert_eq!(
            registry.names(),
            ["echo", "fail", "hash", "sleep", "thumbnail"]
        );
        for name in registry.names() {
            assert_eq!(registry.get(name).map(|k| k.name()), Some(name));
        }
        assert!(registry.get("nope").is_none());
    }

    #[test]
    fn test_kinds_are_registered_only_when_the_settings_enable_them() {
        let off = Registry::for_settings(&Settings::default());
        assert_eq!(off.names(), Registry::builtin().names());
        assert!(off.get("count").is_none());
        let on = Registry::for_settings(&Settings {
            enable_test_kinds: true,
            ..Settings::default()
        });
        assert!(on.get("count").is_some());
        assert_eq!(on.names().len(), off.names().len() + 1);
    }

    #[test]
    fn a_registry_accepts_an_extra_kind() {
        struct Noop;
        impl Kind for Noop {
            fn name(&self) -> &'static str {
                "noop"
            }
            fn validate(&self, _: &Value) -> Result<(), InvalidInput> {
                Ok(())
            }
            fn run<'a>(&'a self, _: &'a Value, _: &'a mut dyn RunContext) -> Running<'a> {
                Box::pin(async { Ok(Output::json(&json!(null))) })
            }
        }
        let mut registry = Registry::empty();
        registry.register(Box::new(Noop));
        assert_eq!(registry.names(), ["noop"]);
        let input = json!({});
        let mut ctx = TestContext::new();
        let out = testing::finish(registry.get("noop").unwrap().run(&input, &mut ctx)).unwrap();
        assert_eq!(out.bytes, b"null");
    }
}
