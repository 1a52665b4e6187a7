//! Variant content and its per-device / per-persona overrides: the content a visitor gets is
//! the base with the device patch, then the persona patch, merged (RFC 7386), whichever of the
//! pre-merged combinations serves it.
#![no_main]

use std::collections::BTreeMap;

use edgewise_shared::content::{merge_patch, ResolvedContent};
use edgewise_shared::snapshot::Overrides;
use edgewise_shared::DeviceClass;
use libfuzzer_sys::{arbitrary, fuzz_target};
use serde_json::Value;

/// Arbitrary JSON, built from the fuzzer's bytes.
#[derive(Debug, Clone, arbitrary::Arbitrary)]
enum J {
    Null,
    Bool(bool),
    Int(i32),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl From<&J> for Value {
    fn from(j: &J) -> Value {
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Int(i) => Value::from(*i),
            J::Str(s) => Value::from(s.as_str()),
            J::Arr(items) => Value::Array(items.iter().map(Value::from).collect()),
            J::Obj(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v)))
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    base: J,
    device: Vec<(u8, J)>,
    persona: Vec<(String, J)>,
    ask_device: u8,
    ask_persona: Option<String>,
}

fuzz_target!(|input: Input| {
    let device_of = |b: u8| DeviceClass::ALL[usize::from(b) % DeviceClass::ALL.len()];
    let base = Value::from(&input.base);
    let overrides = Overrides {
        device: input
            .device
            .iter()
            .map(|(d, p)| (device_of(*d), Value::from(p)))
            .collect::<BTreeMap<_, _>>(),
        persona: input
            .persona
            .iter()
            .map(|(k, p)| (k.clone(), Value::from(p)))
            .collect(),
    };
    let resolved = ResolvedContent::new(&base, &overrides);
    let device = device_of(input.ask_device);
    let persona = input.ask_persona.as_deref();
    let mut expected = base.clone();
    if let Some(patch) = overrides.device.get(&device) {
        merge_patch(&mut expected, patch);
    }
    if let Some(patch) = persona.and_then(|p| overrides.persona.get(p)) {
        merge_patch(&mut expected, patch);
    }
    assert_eq!(resolved.get(device, persona), &expected);
});
