//! Captures duet's access records (`tracing` target `duet::access`) as
//! field maps, for the tests that check what is logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The records collected so far, each a map of field name to value.
pub type Records = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A `tracing_subscriber` layer that collects every `duet::access` event.
pub struct Collect(pub Records);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let v = format!("{value:?}");
        self.0
            .insert(field.name().to_string(), v.trim_matches('"').to_string());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Collect {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "duet::access" {
            let mut m = HashMap::new();
            event.record(&mut Fields(&mut m));
            if let Ok(mut all) = self.0.lock() {
                all.push(m);
            }
        }
    }
}
