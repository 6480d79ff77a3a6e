//! `echo`: returns its input. For tests and demos of the pipeline itself.

use serde_json::{Map, Value};

use crate::kind::{JobKind, Output, RunContext, Running};

/// Input: any JSON object. Result: the same object, `application/json`.
pub struct Echo;

impl JobKind for Echo {
    const NAME: &'static str = "echo";
    type Input = Map<String, Value>;
    type Result = Map<String, Value>;

    fn run<'a>(&'a self, input: Self::Input, _ctx: &'a mut dyn RunContext) -> Running<'a> {
        Box::pin(async move { Ok(Output::json(&Value::Object(input))) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;
    use crate::kind::RunError;
    use crate::kind::testing::{TestContext, finish};
    use serde_json::Value;
    use serde_json::json;

    #[test]
    fn echo_returns_its_input_as_json() {
        let input = json!({"a": [1, 2], "b": {"c": "d"}});
        assert_eq!(Echo.validate(&input), Ok(()));
        let out = finish(Kind::run(&Echo, &input, &mut TestContext::new())).unwrap();
        assert_eq!(out.content_type, "application/json");
        assert_eq!(serde_json::from_slice::<Value>(&out.bytes).unwrap(), input);
    }

    #[test]
    fn echo_refuses_anything_but_an_object() {
        for input in [json!(null), json!(1), json!("x"), json!([1])] {
            assert!(Echo.validate(&input).is_err(), "{input}");
        }
        assert!(matches!(
            finish(Kind::run(&Echo, &json!(1), &mut TestContext::new())),
            Err(RunError::Permanent(_))
        ));
    }
}
