//! The survey email: a question and eleven buttons, 0 to 10, each a link to the capture function.
//!
//! Built for mail clients: table layout, inline styles, no script, no images, no external assets;
//! `color-scheme` declared so dark mode keeps contrast; buttons at least 44 px square. Every
//! button looks the same: colouring 0–6 red and 9–10 green nudges answers.

use std::fmt::Write;

use crate::mail::OutgoingEmail;
use crate::survey::{Locale, Survey, SurveyKind};
use crate::{EmailAddress, escape_html};

struct Texts {
    subject: &'static str,
    reminder_prefix: &'static str,
    greeting_named: &'static str,
    greeting: &'static str,
    intro: &'static str,
    question: &'static str,
    question_enps: &'static str,
    low: &'static str,
    high: &'static str,
    unsubscribe_lead: &'static str,
    unsubscribe: &'static str,
}

fn texts(locale: Locale) -> &'static Texts {
    match locale {
        Locale::En => &Texts {
            subject: "How likely are you to recommend {product}?",
            reminder_prefix: "Reminder: ",
            greeting_named: "Hi {name},",
            greeting: "Hello,",
            intro: "We would love your feedback. It takes one click.",
            question: "How likely are you to recommend {product} to a friend or colleague?",
            question_enps: "How likely are you to recommend {product} as a place to work?",
            low: "Not at all likely",
            high: "Extremely likely",
            unsubscribe_lead: "Don't want these emails?",
            unsubscribe: "Unsubscribe",
        },
        Locale::De => &Texts {
            subject: "Würden Sie {product} weiterempfehlen?",
            reminder_prefix: "Erinnerung: ",
            greeting_named: "Hallo {name},",
            greeting: "Hallo,",
            intro: "Ihre Meinung ist uns wichtig. Ein Klick genügt.",
            question: "Wie wahrscheinlich ist es, dass Sie {product} einem Freund oder Kollegen empfehlen?",
            question_enps: "Wie wahrscheinlich ist es, dass Sie {product} als Arbeitgeber empfehlen?",
            low: "Überhaupt nicht wahrscheinlich",
            high: "Äußerst wahrscheinlich",
            unsubscribe_lead: "Keine solchen E-Mails mehr?",
            unsubscribe: "Abmelden",
        },
        Locale::Fr => &Texts {
            subject: "Recommanderiez-vous {product} ?",
            reminder_prefix: "Rappel : ",
            greeting_named: "Bonjour {name},",
            greeting: "Bonjour,",
            intro: "Votre avis compte : un seul clic suffit.",
            question: "Quelle est la probabilité que vous recommandiez {product} à un ami ou à un collègue ?",
            question_enps: "Quelle est la probabilité que vous recommandiez {product} comme employeur ?",
            low: "Pas du tout probable",
            high: "Très probable",
            unsubscribe_lead: "Vous ne souhaitez plus recevoir ces e-mails ?",
            unsubscribe: "Se désabonner",
        },
        Locale::Es => &Texts {
            subject: "¿Recomendaría {product}?",
            reminder_prefix: "Recordatorio: ",
            greeting_named: "Hola, {name}:",
            greeting: "Hola:",
            intro: "Su opinión nos importa. Basta con un clic.",
            question: "¿Qué probabilidad hay de que recomiende {product} a un amigo o colega?",
            question_enps: "¿Qué probabilidad hay de que recomiende {product} como lugar de trabajo?",
            low: "Nada probable",
            high: "Muy probable",
            unsubscribe_lead: "¿No desea recibir estos correos?",
            unsubscribe: "Darse de baja",
        },
    }
}

/// Delighted's per-person wording (docs/delighted.md), from the properties a survey request
/// keeps: `question_product_name` (the product the question names), `delighted_email_subject`,
/// `delighted_intro_message`, `thank_you_message`, and `thank_you_link_text` with an `https`
/// `thank_you_link_url` (a link under the thanks). Each is bounded text already (a property).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wording {
    pub product: Option<String>,
    pub subject: Option<String>,
    pub intro: Option<String>,
    pub thank_you: Option<String>,
    /// (text, URL).
    pub thank_you_link: Option<(String, String)>,
}

impl Wording {
    pub fn of(properties: &std::collections::BTreeMap<String, String>) -> Wording {
        let get = |name: &str| properties.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        // Only a plain https URL: never `javascript:` or anything a page would run.
        let url = get("thank_you_link_url").filter(|u| {
            u.starts_with("https://") && u.len() > 8 && !u.chars().any(|c| c.is_whitespace() || "\"'<>`".contains(c))
        });
        Wording {
            product: get("question_product_name"),
            subject: get("delighted_email_subject"),
            intro: get("delighted_intro_message"),
            thank_you: get("thank_you_message"),
            thank_you_link: get("thank_you_link_text").zip(url),
        }
    }

    /// `survey` as this person is asked about it: the product they were told of.
    pub fn survey(&self, survey: &Survey) -> Survey {
        let mut survey = survey.clone();
        if let Some(product) = &self.product {
            survey.product_name = product.clone();
        }
        survey
    }
}

/// The question, in `locale`, for `survey` (the email and the response page ask the same).
pub fn question(survey: &Survey, locale: Locale) -> String {
    let t = texts(locale);
    let question = if survey.kind == SurveyKind::Enps { t.question_enps } else { t.question };
    question.replace("{product}", &survey.product_name)
}

/// The words at the ends of the scale: (0, 10).
pub fn scale_ends(locale: Locale) -> (&'static str, &'static str) {
    let t = texts(locale);
    (t.low, t.high)
}

/// Everything one email needs. `links_base` is the public base URL of the capture function.
pub struct SurveyEmail<'a> {
    pub survey: &'a Survey,
    pub to: &'a EmailAddress,
    pub name: Option<&'a str>,
    pub locale: Locale,
    pub token: &'a str,
    pub links_base: &'a str,
    pub reminder: bool,
    /// The person's own subject and intro, if given (the product is in `survey` already).
    pub wording: &'a Wording,
}

impl SurveyEmail<'_> {
    pub fn score_link(&self, score: u8) -> String {
        format!("{}/r/{}?score={score}", self.links_base.trim_end_matches('/'), self.token)
    }

    pub fn unsubscribe_link(&self) -> String {
        format!("{}/u/{}", self.links_base.trim_end_matches('/'), self.token)
    }

    pub fn render(&self) -> OutgoingEmail {
        let t = texts(self.locale);
        let product = &self.survey.product_name;
        let greeting = match self.name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => t.greeting_named.replace("{name}", name),
            None => t.greeting.to_owned(),
        };
        let prefix = if self.reminder { t.reminder_prefix } else { "" };
        let subject = match &self.wording.subject {
            Some(subject) => format!("{prefix}{subject}"),
            None => format!("{prefix}{}", t.subject.replace("{product}", product)),
        };
        let intro = self.wording.intro.as_deref().unwrap_or(t.intro);
        let question = question(self.survey, self.locale);

        let mut text = format!("{greeting}\n\n{intro}\n\n{question}\n\n");
        for score in 0..=10u8 {
            let label = match score {
                0 => format!(" ({})", t.low),
                10 => format!(" ({})", t.high),
                _ => String::new(),
            };
            let _ = writeln!(text, "{score}{label}: {}", self.score_link(score));
        }
        let _ = write!(text, "\n{} {}: {}\n", t.unsubscribe_lead, t.unsubscribe, self.unsubscribe_link());

        let unsubscribe = self.unsubscribe_link();
        OutgoingEmail {
            from: self.survey.sender.clone(),
            to: self.to.clone(),
            subject,
            html: self.html(t, &greeting, intro, &question),
            text,
            headers: vec![
                ("List-Unsubscribe".into(), format!("<{unsubscribe}>")),
                ("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into()),
            ],
        }
    }

    fn html(&self, t: &Texts, greeting: &str, intro: &str, question: &str) -> String {
        let mut buttons = String::new();
        for score in 0..=10u8 {
            let _ = write!(
                buttons,
                r#"<a href="{href}" aria-label="{score}" style="display:inline-block;min-width:44px;height:44px;line-height:44px;margin:2px;border-radius:6px;font-family:Arial,Helvetica,sans-serif;background-color:#1f4e8c;color:#ffffff;font-size:18px;font-weight:bold;text-align:center;text-decoration:none;">{score}</a>"#,
                href = escape_html(&self.score_link(score)),
            );
        }
        format!(
            r#"<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="supported-color-schemes" content="light dark">
<title>{title}</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f4f6;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#f3f4f6;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="max-width:600px;background-color:#ffffff;border-radius:8px;">
<tr><td style="padding:28px 24px 8px 24px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:24px;color:#111827;">
<p style="margin:0 0 12px 0;">{greeting}</p>
<p style="margin:0 0 20px 0;">{intro}</p>
<h1 style="margin:0 0 20px 0;font-size:20px;line-height:28px;color:#111827;">{question}</h1>
</td></tr>
<tr><td align="center" style="padding:0 16px;">{buttons}</td></tr>
<tr><td style="padding:8px 24px 24px 24px;font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#374151;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>
<td align="left" style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#374151;">0 = {low}</td>
<td align="right" style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#374151;">10 = {high}</td>
</tr></table>
</td></tr>
</table>
<p style="margin:16px 0 0 0;font-family:Arial,Helvetica,sans-serif;font-size:13px;line-height:20px;color:#4b5563;">{unsubscribe_lead} <a href="{unsubscribe_href}" style="color:#1f4e8c;">{unsubscribe}</a></p>
</td></tr>
</table>
</body>
</html>
"#,
            lang = self.locale.as_str(),
            title = escape_html(question),
            greeting = escape_html(greeting),
            intro = escape_html(intro),
            question = escape_html(question),
            low = escape_html(t.low),
            high = escape_html(t.high),
            unsubscribe_lead = escape_html(t.unsubscribe_lead),
            unsubscribe_href = escape_html(&self.unsubscribe_link()),
            unsubscribe = escape_html(t.unsubscribe),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::survey::SurveyId;

    static NO_WORDING: Wording =
        Wording { product: None, subject: None, intro: None, thank_you: None, thank_you_link: None };

    #[test]
    fn a_persons_wording_replaces_the_surveys_and_runs_nothing() {
        let props = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let wording = Wording::of(&props(&[
            ("question_product_name", "the Stove 3000"),
            ("delighted_email_subject", "A quick question <b>"),
            ("delighted_intro_message", "Thanks for your order, Ada."),
            ("thank_you_link_text", "Our blog"),
            ("thank_you_link_url", "https://blog.example/"),
        ]));
        let s = wording.survey(&survey("Example Shop"));
        let to = EmailAddress::parse("a@example.com").unwrap();
        let out = SurveyEmail { wording: &wording, ..email(&s, &to, None, Locale::En) }.render();
        assert_eq!(out.subject, "A quick question <b>");
        assert!(out.text.contains("Thanks for your order, Ada.") && out.text.contains("recommend the Stove 3000"));
        assert!(out.html.contains("recommend the Stove 3000") && !out.html.contains("<b>"));
        assert_eq!(wording.thank_you_link, Some(("Our blog".into(), "https://blog.example/".into())));
        for url in ["javascript:alert(1)", "http://plain.example/", "https://x.example/\"onclick"] {
            let w = Wording::of(&props(&[("thank_you_link_text", "x"), ("thank_you_link_url", url)]));
            assert_eq!(w.thank_you_link, None, "{url}");
        }
    }

    fn survey(product: &str) -> Survey {
        Survey {
            id: SurveyId::parse("default").unwrap(),
            kind: SurveyKind::Transactional,
            product_name: product.into(),
            sender: "Shop <surveys@shop.example>".into(),
            default_locale: Locale::En,
            throttle_days: 90,
            delay_seconds: 0,
            reminder_after_days: None,
            segment_properties: vec![],
            weight_properties: vec![],
            cadence: None,
        }
    }

    fn email<'a>(survey: &'a Survey, to: &'a EmailAddress, name: Option<&'a str>, locale: Locale) -> SurveyEmail<'a> {
        SurveyEmail {
            survey,
            to,
            name,
            locale,
            token: "TOKEN",
            links_base: "https://nps.example/",
            reminder: false,
            wording: &NO_WORDING,
        }
    }

    #[test]
    fn eleven_distinct_score_links_from_zero_to_ten() {
        let s = survey("Example Shop");
        let to = EmailAddress::parse("a@example.com").unwrap();
        let out = email(&s, &to, None, Locale::En).render();
        for score in 0..=10 {
            let link = format!("https://nps.example/r/TOKEN?score={score}");
            assert!(out.html.contains(&format!(r#"href="{link}""#)), "html lacks {link}");
            assert!(out.text.contains(&link), "text lacks {link}");
        }
        assert!(!out.html.contains("score=11") && !out.html.contains("<script"));
        assert!(out.html.contains("min-width:44px;height:44px"));
        assert!(out.headers.contains(&("List-Unsubscribe".into(), "<https://nps.example/u/TOKEN>".into())));
        assert!(out.headers.contains(&("List-Unsubscribe-Post".into(), "List-Unsubscribe=One-Click".into())));
    }

    #[test]
    fn names_and_product_are_escaped_in_html_and_kept_in_text() {
        let s = survey("Tom & Jerry's <Shop>");
        let to = EmailAddress::parse("a@example.com").unwrap();
        let out = email(&s, &to, Some("<b>Eve</b>"), Locale::En).render();
        assert!(out.html.contains("Tom &amp; Jerry&#39;s &lt;Shop&gt;"));
        assert!(out.html.contains("&lt;b&gt;Eve&lt;/b&gt;") && !out.html.contains("<b>Eve"));
        assert!(out.text.contains("Hi <b>Eve</b>,"));
        assert_eq!(out.subject, "How likely are you to recommend Tom & Jerry's <Shop>?");
    }

    #[test]
    fn each_locale_renders_its_own_words() {
        let s = survey("Example");
        let to = EmailAddress::parse("a@example.com").unwrap();
        let expect = [
            (Locale::En, "to a friend or colleague", "Extremely likely"),
            (Locale::De, "einem Freund oder Kollegen", "Äußerst wahrscheinlich"),
            (Locale::Fr, "à un ami ou à un collègue", "Très probable"),
            (Locale::Es, "a un amigo o colega", "Muy probable"),
        ];
        for (locale, question, high) in expect {
            let out = email(&s, &to, Some("Ana"), locale).render();
            assert!(out.text.contains(question), "{locale:?}: {}", out.text);
            assert!(out.text.contains(high), "{locale:?}");
            assert!(out.html.contains(&format!(r#"<html lang="{}">"#, locale.as_str())));
        }
    }

    #[test]
    fn reminders_say_so_and_enps_asks_about_work() {
        let mut s = survey("Acme");
        s.kind = SurveyKind::Enps;
        let to = EmailAddress::parse("a@example.com").unwrap();
        let mut e = email(&s, &to, None, Locale::En);
        e.reminder = true;
        let out = e.render();
        assert!(out.subject.starts_with("Reminder: "));
        assert!(out.text.contains("as a place to work"));
    }
}
