//! Targeting conditions and persona rules: any JSON as a condition (the input up to its first
//! NUL byte), compiled within the limits and evaluated for a visitor whose persona, country,
//! URL, referrer and attributes are the following lines. Compiling never panics and evaluation
//! terminates; a condition and its `not` never agree.
#![no_main]

use edgewise_shared::condition::{Cond, Condition};
use edgewise_shared::visitor::Facts;
use edgewise_shared::{DeviceClass, Visitor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (json, rest) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let Ok(condition) = Condition::try_from(value) else {
        return;
    };
    let Ok(cond) = Cond::compile(&condition, "when") else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let mut next = || lines.next().filter(|l| !l.is_empty());
    let (persona, country, url, referrer) = (next(), next(), next(), next());
    let local_hour = next().and_then(|h| h.parse().ok());
    let attributes: Vec<(String, String)> = std::iter::from_fn(|| {
        let line = next()?;
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        Some((k.to_owned(), v.to_owned()))
    })
    .collect();
    let visitor = Visitor {
        unit_id: "u",
        device: Some(DeviceClass::Tablet),
        persona,
        country,
        url,
        referrer,
        local_hour,
        attributes: &attributes,
        ..Visitor::default()
    };
    let facts = Facts::new(&visitor, DeviceClass::Tablet);
    let result = cond.eval(&facts);
    if let Ok(not) = Cond::compile(&Condition::Not(Box::new(condition)), "when") {
        assert_ne!(result, not.eval(&facts));
    }
});
