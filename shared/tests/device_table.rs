//! The device classifier against a table of real User-Agent strings (`vectors/user_agents.json`):
//! current desktop and mobile browsers, tablets, in-app browsers, TVs and consoles, crawlers,
//! link-preview fetchers and HTTP tools. Every mismatch is reported before the test fails, so a
//! change to the classifier shows its whole effect at once.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use edgewise_shared::DeviceClass;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Row {
    ua: String,
    class: String,
    note: String,
}

fn table() -> Vec<Row> {
    serde_json::from_str(include_str!("vectors/user_agents.json")).expect("user_agents.json parses")
}

#[test]
fn every_user_agent_in_the_table_is_classified_as_expected() {
    let rows = table();
    let mut mismatches = Vec::new();
    for row in &rows {
        let expected = DeviceClass::parse(&row.class)
            .unwrap_or_else(|| panic!("unknown class {:?} for {:?}", row.class, row.ua));
        let got = DeviceClass::from_user_agent(&row.ua);
        if got != expected {
            mismatches.push(format!(
                "  expected {expected}, got {got}: {:?} ({})",
                row.ua, row.note
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} user agents misclassified:\n{}",
        mismatches.len(),
        rows.len(),
        mismatches.join("\n")
    );
}

#[test]
fn the_table_is_large_and_covers_every_class() {
    let rows = table();
    assert!(rows.len() >= 100, "only {} rows", rows.len());
    for class in DeviceClass::ALL {
        let n = rows.iter().filter(|r| r.class == class.as_str()).count();
        assert!(n >= 15, "only {n} rows of class {class}");
    }
    for row in &rows {
        assert!(
            !row.note.trim().is_empty(),
            "row without a note: {:?}",
            row.ua
        );
    }
}
