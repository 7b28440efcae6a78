//! The response page: server-rendered, self-contained (no external assets), mobile first, one
//! form that works without JavaScript, every piece of user text escaped, and a strict
//! Content-Security-Policy (the one inline style block and the one inline script are allowed by
//! their hashes).

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use nps_domain::escape_html;
use nps_domain::response::{Comment, MAX_COMMENT_CHARS};
use nps_domain::survey::{Locale, Survey};
use nps_domain::survey_email::{Wording, question, scale_ends};
use nps_scoring::Score;
use sha2::{Digest, Sha256};

const STYLE: &str = "body{margin:0;background:#f3f4f6;color:#111827;font:16px/1.5 Arial,Helvetica,sans-serif}\
main{max-width:600px;margin:0 auto;padding:24px 16px}\
.card{background:#fff;border-radius:8px;padding:24px}\
h1{font-size:20px;line-height:28px;margin:0 0 16px}\
fieldset{border:0;margin:0;padding:0}\
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}\
.scale{display:flex;flex-wrap:wrap;gap:4px}\
.scale label{flex:1 0 44px;min-height:44px;display:flex;align-items:center;justify-content:center;\
border:2px solid #1f4e8c;border-radius:6px;font-weight:bold;cursor:pointer}\
.scale input{position:absolute;opacity:0}\
.scale input:checked+span{color:#fff}\
.scale label:has(input:checked){background:#1f4e8c;color:#fff}\
.scale input:focus-visible+span{outline:3px solid #b45309;outline-offset:4px}\
.ends{display:flex;justify-content:space-between;font-size:14px;color:#374151;margin:8px 0 16px}\
textarea{width:100%;box-sizing:border-box;min-height:96px;font:inherit;padding:8px;border:1px solid #6b7280;border-radius:6px}\
button{margin-top:16px;min-height:44px;padding:0 24px;border:0;border-radius:6px;background:#1f4e8c;color:#fff;font:inherit;font-weight:bold;cursor:pointer}\
.note{background:#ecfdf5;border-left:4px solid #047857;padding:8px 12px;margin:0 0 16px}\
.error{background:#fef2f2;border-left:4px solid #b91c1c;padding:8px 12px;margin:0 0 16px}\
.hint{font-size:14px;color:#374151;margin:8px 0 0}";

/// Keeps a clicked score when the person leaves the page without pressing the button, once the
/// page has been visible for two seconds and touched (a pointer, a key, a scroll): a person saw it,
/// where a scanner that fetches the link, or renders it in a sandbox for a while, does neither.
/// The answer costs one write whether or not a comment follows. The form alone still works
/// without it.
const KEEP_ON_LEAVE: &str = "(function(){var f=document.forms[0],done=false,seen=false,touched=false,timer;\
f.addEventListener('submit',function(){done=true});\
['pointerdown','pointermove','keydown','touchstart','wheel','scroll'].forEach(function(e){\
addEventListener(e,function(){touched=true},{passive:true,capture:true})});\
function watch(){clearTimeout(timer);if(document.visibilityState==='visible'){timer=setTimeout(function(){seen=true},2000)}}\
function keep(){if(!seen||!touched||done||!f.elements.score.value){return}done=true;\
var data=new URLSearchParams(new FormData(f));data.set('via','leave');navigator.sendBeacon(location.pathname,data)}\
document.addEventListener('visibilitychange',function(){if(document.visibilityState==='hidden'){keep()}else{watch()}});\
addEventListener('pagehide',keep);document.getElementById('kept').hidden=false;watch()})();";

static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    let hash = |text: &str| STANDARD.encode(Sha256::digest(text.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{style}'; script-src 'sha256-{script}'; connect-src 'self'; \
         form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        style = hash(STYLE),
        script = hash(KEEP_ON_LEAVE),
    )
});

struct Words {
    title: &'static str,
    reason: &'static str,
    submit: &'static str,
    kept: &'static str,
    thanks: &'static str,
    answered: &'static str,
    invalid_link: &'static str,
    closed: &'static str,
    too_long: &'static str,
    pick_a_score: &'static str,
    unsubscribe_question: &'static str,
    unsubscribe_button: &'static str,
    unsubscribed: &'static str,
}

fn words(locale: Locale) -> &'static Words {
    match locale {
        Locale::En => &Words {
            title: "Your feedback",
            reason: "What is the main reason for your score? (optional)",
            submit: "Send my answer",
            kept: "Your score is kept even if you close this page now.",
            thanks: "Thank you! Your answer has been recorded. You can change it below.",
            answered: "You answered {score}. Change it?",
            invalid_link: "This survey link is not valid or has expired.",
            closed: "This survey is closed. Thank you for your answer.",
            too_long: "Please keep your comment under 2,000 characters.",
            pick_a_score: "Please choose a score from 0 to 10.",
            unsubscribe_question: "Stop receiving survey emails from {product}?",
            unsubscribe_button: "Unsubscribe",
            unsubscribed: "Done. You will receive no more survey emails from us.",
        },
        Locale::De => &Words {
            title: "Ihre Meinung",
            reason: "Was ist der wichtigste Grund für Ihre Bewertung? (optional)",
            submit: "Antwort senden",
            kept: "Ihre Bewertung bleibt erhalten, auch wenn Sie diese Seite jetzt schließen.",
            thanks: "Vielen Dank! Ihre Antwort wurde gespeichert. Sie können sie unten ändern.",
            answered: "Sie haben {score} gewählt. Ändern?",
            invalid_link: "Dieser Umfragelink ist ungültig oder abgelaufen.",
            closed: "Diese Umfrage ist beendet. Vielen Dank für Ihre Antwort.",
            too_long: "Bitte fassen Sie Ihren Kommentar in weniger als 2.000 Zeichen.",
            pick_a_score: "Bitte wählen Sie einen Wert von 0 bis 10.",
            unsubscribe_question: "Keine Umfrage-E-Mails mehr von {product} erhalten?",
            unsubscribe_button: "Abmelden",
            unsubscribed: "Erledigt. Sie erhalten keine Umfrage-E-Mails mehr von uns.",
        },
        Locale::Fr => &Words {
            title: "Votre avis",
            reason: "Quelle est la raison principale de votre note ? (facultatif)",
            submit: "Envoyer ma réponse",
            kept: "Votre note est conservée même si vous fermez cette page maintenant.",
            thanks: "Merci ! Votre réponse a été enregistrée. Vous pouvez la modifier ci-dessous.",
            answered: "Vous avez répondu {score}. La modifier ?",
            invalid_link: "Ce lien d'enquête n'est pas valide ou a expiré.",
            closed: "Cette enquête est close. Merci pour votre réponse.",
            too_long: "Merci de limiter votre commentaire à 2 000 caractères.",
            pick_a_score: "Veuillez choisir une note de 0 à 10.",
            unsubscribe_question: "Ne plus recevoir les e-mails d'enquête de {product} ?",
            unsubscribe_button: "Se désabonner",
            unsubscribed: "C'est fait. Vous ne recevrez plus d'e-mails d'enquête de notre part.",
        },
        Locale::Es => &Words {
            title: "Su opinión",
            reason: "¿Cuál es el motivo principal de su puntuación? (opcional)",
            submit: "Enviar mi respuesta",
            kept: "Su puntuación se guarda aunque cierre esta página ahora.",
            thanks: "¡Gracias! Su respuesta ha quedado registrada. Puede cambiarla abajo.",
            answered: "Respondió {score}. ¿Quiere cambiarlo?",
            invalid_link: "Este enlace de encuesta no es válido o ha caducado.",
            closed: "Esta encuesta está cerrada. Gracias por su respuesta.",
            too_long: "Limite su comentario a 2000 caracteres.",
            pick_a_score: "Elija una puntuación de 0 a 10.",
            unsubscribe_question: "¿Dejar de recibir correos de encuestas de {product}?",
            unsubscribe_button: "Darse de baja",
            unsubscribed: "Listo. No recibirá más correos de encuestas nuestros.",
        },
    }
}

/// What the page says above the form.
pub enum Notice {
    None,
    Thanks,
    Answered(Score),
    TooLong,
    PickAScore,
}

fn html_response(status: StatusCode, html: String) -> Response<Body> {
    nps_http::html_page(status, html, &CONTENT_SECURITY_POLICY)
}

fn document(locale: Locale, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<main>\n<div class=\"card\">\n{body}</div>\n</main>\n</body>\n</html>\n",
        lang = locale.as_str(),
        title = escape_html(title),
    )
}

/// The form, with `selected` checked and `comment` filled in.
pub fn form(
    status: StatusCode,
    survey: &Survey,
    locale: Locale,
    selected: Option<Score>,
    comment: Option<&str>,
    notice: Notice,
    wording: &Wording,
) -> Response<Body> {
    let w = words(locale);
    let question = question(survey, locale);
    let (low, high) = scale_ends(locale);
    // Only a first visit from a score link keeps the score on leaving; a later visit must not
    // turn a glance at another score into a change of answer.
    let keep_on_leave = matches!(notice, Notice::None) && selected.is_some();
    let notice = match notice {
        Notice::None => String::new(),
        Notice::Thanks => {
            let thanks = wording.thank_you.as_deref().unwrap_or(w.thanks);
            let link = match &wording.thank_you_link {
                Some((text, url)) => format!(" <a href=\"{}\">{}</a>", escape_html(url), escape_html(text)),
                None => String::new(),
            };
            format!("<p class=\"note\" role=\"status\">{}{link}</p>\n", escape_html(thanks))
        }
        Notice::Answered(score) => format!(
            "<p class=\"note\" role=\"status\">{}</p>\n",
            escape_html(&w.answered.replace("{score}", &score.to_string()))
        ),
        Notice::TooLong => format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape_html(w.too_long)),
        Notice::PickAScore => format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape_html(w.pick_a_score)),
    };
    let mut radios = String::new();
    for score in Score::all() {
        let checked = if selected == Some(score) { " checked" } else { "" };
        radios.push_str(&format!(
            "<label><input type=\"radio\" name=\"score\" value=\"{score}\" required{checked}><span>{score}</span></label>\n"
        ));
    }
    let body = format!(
        "<h1>{question}</h1>\n{notice}<form method=\"post\" action=\"\">\n<fieldset>\n\
         <legend class=\"sr\">{question}</legend>\n<div class=\"scale\">\n{radios}</div>\n\
         <p class=\"ends\"><span>0 = {low}</span><span>10 = {high}</span></p>\n</fieldset>\n\
         <label for=\"comment\">{reason}</label>\n\
         <textarea id=\"comment\" name=\"comment\" maxlength=\"{MAX_COMMENT_CHARS}\">{comment}</textarea>\n\
         <button type=\"submit\">{submit}</button>\n{kept}</form>\n{script}",
        question = escape_html(&question),
        low = escape_html(low),
        high = escape_html(high),
        reason = escape_html(w.reason),
        comment = escape_html(comment.unwrap_or_default()),
        submit = escape_html(w.submit),
        kept = if keep_on_leave {
            format!("<p class=\"hint\" id=\"kept\" hidden>{}</p>\n", escape_html(w.kept))
        } else {
            String::new()
        },
        script = if keep_on_leave { format!("<script>{KEEP_ON_LEAVE}</script>\n") } else { String::new() },
    );
    html_response(status, document(locale, w.title, &body))
}

/// A link that is tampered, expired or unknown: the same page and status for each, so it tells
/// nobody whether a survey exists.
pub fn invalid_link() -> Response<Body> {
    let w = words(Locale::En);
    let body = format!("<h1>{}</h1>\n", escape_html(w.invalid_link));
    html_response(StatusCode::NOT_FOUND, document(Locale::En, w.title, &body))
}

/// `GET /u/{token}`: asks first, so a link scanner fetching it unsubscribes nobody.
pub fn unsubscribe_confirm(survey: &Survey, locale: Locale) -> Response<Body> {
    let w = words(locale);
    let question = w.unsubscribe_question.replace("{product}", &survey.product_name);
    let body = format!(
        "<h1>{question}</h1>\n<form method=\"post\" action=\"\">\n\
         <button type=\"submit\">{button}</button>\n</form>\n",
        question = escape_html(&question),
        button = escape_html(w.unsubscribe_button),
    );
    html_response(StatusCode::OK, document(locale, w.title, &body))
}

pub fn unsubscribed(locale: Locale) -> Response<Body> {
    let w = words(locale);
    let body = format!("<h1>{}</h1>\n", escape_html(w.unsubscribed));
    html_response(StatusCode::OK, document(locale, w.title, &body))
}

pub fn closed(locale: Locale) -> Response<Body> {
    let w = words(locale);
    let body = format!("<h1>{}</h1>\n", escape_html(w.closed));
    html_response(StatusCode::CONFLICT, document(locale, w.title, &body))
}

/// The comment as typed, for refilling the form after an error.
pub fn comment_text(comment: Option<&Comment>) -> Option<&str> {
    comment.map(Comment::as_str)
}

/// `HEAD`: the headers a `GET` would have, no body.
pub fn head(status: StatusCode) -> Response<Body> {
    html_response(status, String::new())
}
