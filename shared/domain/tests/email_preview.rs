//! Renders the survey email in every locale to `target/email-preview/<locale>.html`, for people to
//! open (or screenshot with headless Chromium) and look at; and checks what a mail client needs.

use std::path::PathBuf;

use nps_domain::EmailAddress;
use nps_domain::survey::{Locale, Survey, SurveyId, SurveyKind};
use nps_domain::survey_email::SurveyEmail;

#[test]
fn every_locale_renders_a_self_contained_email() {
    let survey = Survey {
        id: SurveyId::parse("default").unwrap(),
        kind: SurveyKind::Transactional,
        product_name: "Demo Shop".into(),
        sender: "Demo Shop <surveys@demo-shop.example>".into(),
        default_locale: Locale::En,
        throttle_days: 90,
        delay_seconds: 0,
        reminder_after_days: None,
        segment_properties: vec![],
        weight_properties: vec![],
        cadence: None,
    };
    let to = EmailAddress::parse("sam@example.com").unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/email-preview");
    std::fs::create_dir_all(&dir).unwrap();
    for locale in Locale::ALL {
        let email = SurveyEmail {
            survey: &survey,
            to: &to,
            name: Some("Sam"),
            locale,
            token: "PREVIEW-TOKEN",
            links_base: "https://nps.example",
            reminder: false,
            wording: &Default::default(),
        }
        .render();
        // Nothing a mail client would fetch or run: no script, no external style sheet, no images.
        for banned in ["<script", "<link", "<img", "src=", "url("] {
            assert!(!email.html.contains(banned), "{locale:?} email contains {banned}");
        }
        std::fs::write(dir.join(format!("{}.html", locale.as_str())), &email.html).unwrap();
    }
}
