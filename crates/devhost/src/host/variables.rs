//! `fermyon:spin/variables@2.0.0`: a component reads only the names in its
//! own `[component.ID.variables]`, already rendered at start-up.

use super::HostState;
use super::bindings::fermyon::spin2_0_0::variables::{Error, Host};

impl Host for HostState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        if let Err(e) = crate::variables::validate_name(&name) {
            return Ok(Err(Error::InvalidName(e.to_string())));
        }
        Ok(match self.env.variables.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(Error::Undefined(format!(
                "no variable for {:?}.{name:?}",
                self.env.id
            ))),
        })
    }
}
