//! The drafts `edgewise plan` prints are tests the control plane accepts as they are, on
//! both engines: every built-in template, two and four arms.

use edgewise_shared::plan::{plan, templates, PlanInput};
use reqwest::StatusCode;

use crate::both;
use crate::common::TestApp;

both!(
    every_template_drafts_a_valid_test,
    every_template_drafts_a_valid_test
);
async fn every_template_drafts_a_valid_test(app: TestApp) {
    for t in templates::builtin() {
        for variants in [2, 4] {
            let key = format!("{}-{variants}", t.name);
            let p = plan(
                &t,
                &PlanInput {
                    key: key.clone(),
                    baseline: 0.05,
                    mde: 0.1,
                    daily_units: 10_000.0,
                    variants,
                    coverage: 0.5,
                    alpha: 0.05,
                    power: 0.8,
                },
            )
            .unwrap();
            let (s, b) = app.post("/api/v1/tests", p.draft.clone()).await;
            assert_eq!(s, StatusCode::CREATED, "{key}: {b}");
            assert_eq!(b["variants"].as_array().unwrap().len(), variants as usize);
            assert_eq!(b["tags"], p.draft["tags"], "{key}");
        }
    }
    app.shutdown().await;
}
