//! Variant content and its per-device / per-persona overrides.
//!
//! Overrides are JSON merge patches (RFC 7386): objects merge key by key, `null` removes a key,
//! anything else replaces. A persona patch applies after a device patch. Every combination a
//! snapshot can produce is merged once at compile time, so assignment only picks a reference.

use serde_json::Value;

use crate::device::DeviceClass;
use crate::snapshot::Overrides;

/// RFC 7386 merge patch of `patch` onto `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// A variant's content resolved for every device class and persona it has an override for.
#[derive(Debug, Clone)]
pub struct ResolvedContent {
    base: Value,
    by_device: [Option<Value>; 4],
    by_persona: Vec<(String, Value)>,
    by_both: Vec<(DeviceClass, String, Value)>,
}

impl ResolvedContent {
    pub fn new(base: &Value, overrides: &Overrides) -> ResolvedContent {
        let patched = |patches: &[&Value]| {
            let mut v = base.clone();
            for p in patches {
                merge_patch(&mut v, p);
            }
            v
        };
        let mut by_device: [Option<Value>; 4] = Default::default();
        for (device, patch) in &overrides.device {
            by_device[device.index()] = Some(patched(&[patch]));
        }
        let by_persona = overrides
            .persona
            .iter()
            .map(|(p, patch)| (p.clone(), patched(&[patch])))
            .collect();
        let mut by_both = Vec::new();
        for (device, dpatch) in &overrides.device {
            for (persona, ppatch) in &overrides.persona {
                by_both.push((*device, persona.clone(), patched(&[dpatch, ppatch])));
            }
        }
        ResolvedContent {
            base: base.clone(),
            by_device,
            by_persona,
            by_both,
        }
    }

    /// The content a visitor on `device` with `persona` sees.
    pub fn get(&self, device: DeviceClass, persona: Option<&str>) -> &Value {
        if let Some(p) = persona {
            if let Some((_, _, v)) = self.by_both.iter().find(|(d, q, _)| *d == device && q == p) {
                return v;
            }
            if let Some((_, v)) = self.by_persona.iter().find(|(q, _)| q == p) {
                return v;
            }
        }
        self.by_device[device.index()]
            .as_ref()
            .unwrap_or(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7386() {
        let mut v = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut v, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(v, json!({"a": "z", "c": {"d": "e"}}));
        let mut s = json!("text");
        merge_patch(&mut s, &json!({"x": 1}));
        assert_eq!(s, json!({"x": 1}));
        merge_patch(&mut s, &json!([1]));
        assert_eq!(s, json!([1]));
    }

    #[test]
    fn persona_beats_device_and_both_combine() {
        let overrides: Overrides = serde_json::from_value(json!({
            "device": {"mobile": {"title": "Short", "cta": "Tap"}},
            "persona": {"RemoteDad": {"title": "For busy parents"}}
        }))
        .unwrap();
        let c = ResolvedContent::new(&json!({"title": "Long", "cta": "Click"}), &overrides);
        assert_eq!(
            c.get(DeviceClass::Desktop, None),
            &json!({"title": "Long", "cta": "Click"})
        );
        assert_eq!(
            c.get(DeviceClass::Mobile, None),
            &json!({"title": "Short", "cta": "Tap"})
        );
        assert_eq!(
            c.get(DeviceClass::Desktop, Some("RemoteDad")),
            &json!({"title": "For busy parents", "cta": "Click"})
        );
        assert_eq!(
            c.get(DeviceClass::Mobile, Some("RemoteDad")),
            &json!({"title": "For busy parents", "cta": "Tap"})
        );
        assert_eq!(
            c.get(DeviceClass::Mobile, Some("Other")),
            &json!({"title": "Short", "cta": "Tap"})
        );
    }
}
