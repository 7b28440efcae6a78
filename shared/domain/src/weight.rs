//! What an answer is worth: the numeric properties a survey weighs its answers by (`amount` for
//! revenue, `seats`), read from the event once, at intake, with the event's currency. Kept as
//! whole units of 1/10,000 so that the rollups add and take them away exactly, like counts.

use std::collections::BTreeMap;
use std::fmt;

/// Most properties one survey weighs by.
pub const MAX_WEIGHT_PROPERTIES: usize = 3;

/// The property whose value keys every weight of the answer: an ISO 4217 code.
pub const CURRENCY: &str = "currency";

/// Units of one: weights keep four decimals (every currency's minor unit has at most three).
pub const UNITS: i64 = 10_000;

/// The largest weight kept, a billion: so a year of squared weights still adds up exactly in
/// 128 bits (and in DynamoDB's 38 digits).
const MAX_VALUE: i64 = 1_000_000_000;

/// A weight of at least 0 and at most a billion, in units of 1/10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(i64);

impl Weight {
    /// A plain decimal (`403.00`, `49`, `0.5`), at most four decimals; anything else is no weight:
    /// an exponent, a sign, a separator, a value over a billion.
    pub fn parse(text: &str) -> Option<Weight> {
        let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 10 || fraction.len() > 4 || !digits(whole) || !digits(fraction) {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let fraction: i64 = format!("{fraction:0<4}").parse().ok()?;
        (whole < MAX_VALUE || (whole == MAX_VALUE && fraction == 0)).then_some(Weight(whole * UNITS + fraction))
    }

    /// From stored units; `None` outside the bounds.
    pub fn from_units(units: i64) -> Option<Weight> {
        (0..=MAX_VALUE * UNITS).contains(&units).then_some(Weight(units))
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Weight {
    /// `403`, `129.9`: the shortest decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, fraction) = (self.0 / UNITS, self.0 % UNITS);
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let fraction = format!("{fraction:04}");
        write!(f, "{whole}.{}", fraction.trim_end_matches('0'))
    }
}

/// An answer's weights, and the currency they are in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Weights {
    /// The event's `currency`, lower case, when it is three letters; it applies to every weight.
    pub currency: Option<String>,
    /// By property name.
    pub values: BTreeMap<String, Weight>,
}

impl Weights {
    /// The weights `names` picks from an event's `properties` (normalised names): those that are
    /// plain decimals. A value that is not is no weight; the property is kept as it came anyway.
    pub fn from_properties(names: &[String], properties: &BTreeMap<String, String>) -> Weights {
        let values: BTreeMap<String, Weight> = names
            .iter()
            .filter_map(|name| Some((name.clone(), Weight::parse(properties.get(name)?)?)))
            .take(MAX_WEIGHT_PROPERTIES)
            .collect();
        let currency = properties.get(CURRENCY).and_then(|c| currency(c)).filter(|_| !values.is_empty());
        Weights { currency, values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// `usd` from `USD` or ` usd `; `None` unless three ASCII letters.
pub fn currency(text: &str) -> Option<String> {
    let code = text.trim().to_ascii_lowercase();
    (code.len() == 3 && code.bytes().all(|b| b.is_ascii_lowercase())).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_plain_decimals_kept_exactly() {
        assert_eq!(Weight::parse("403.00").map(Weight::units), Some(4_030_000));
        assert_eq!(Weight::parse(" 49 ").map(Weight::units), Some(490_000));
        assert_eq!(Weight::parse("0.0001").map(Weight::units), Some(1));
        assert_eq!(Weight::parse("1000000000").map(Weight::units), Some(MAX_VALUE * UNITS));
        for refused in ["", ".5", "-1", "+1", "1e3", "1,000", "1.00001", "1000000000.5", "NaN", "12a", "1.2.3"] {
            assert_eq!(Weight::parse(refused), None, "{refused}");
        }
        assert_eq!(Weight::parse("129.90").unwrap().to_string(), "129.9");
        assert_eq!(Weight::parse("7").unwrap().to_string(), "7");
        assert_eq!(Weight::parse("0.05").unwrap().to_string(), "0.05");
        assert_eq!(Weight::from_units(-1), None);
        assert_eq!(Weight::from_units(MAX_VALUE * UNITS + 1), None);
    }

    #[test]
    fn a_survey_picks_its_weights_and_the_currency_from_the_event() {
        let properties: BTreeMap<String, String> =
            [("amount", "403.00"), ("currency", "USD"), ("seats", "many"), ("product", "stove")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into();
        let names = ["amount", "seats", "missing"].map(String::from);
        let w = Weights::from_properties(&names, &properties);
        assert_eq!(w.currency.as_deref(), Some("usd"));
        assert_eq!(w.values.keys().collect::<Vec<_>>(), ["amount"], "seats is not a number");
        assert!(Weights::from_properties(&[], &properties).is_empty());
        assert_eq!(Weights::from_properties(&["seats".into()], &properties), Weights::default(), "no currency alone");
        assert_eq!(currency("eu"), None);
        assert_eq!(currency("€ur"), None);
    }
}
