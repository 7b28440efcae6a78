//! Reading and writing the attributes of one item, with malformed items reported, not panicked on.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use nps_domain::weight::{Weight, Weights};
use nps_domain::{StoreError, Timestamp};

use super::keys::{ItemKey, attr};

pub(crate) type Item = HashMap<String, AttributeValue>;

/// An item's image as the table's stream hands it to the aggregator: hashed with FxHash, which is
/// several times faster than the standard SipHash for short keys. Its keys are the attribute names
/// our own code writes, never chosen by a caller, so a hash flood is not a concern here.
pub type Image = HashMap<String, AttributeValue, rustc_hash::FxBuildHasher>;

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// `None` for an empty map, which is then not stored: DynamoDB Local's stream writes an empty map
/// as `{}`, which no SDK can read, and that breaks reading the whole page of records.
pub(crate) fn string_map(map: &BTreeMap<String, String>) -> Option<AttributeValue> {
    (!map.is_empty()).then(|| AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect()))
}

/// An answer's weights: `weights` (name → units of 1/10,000) and `currency`, when it has any.
pub(crate) fn weights(w: &Weights) -> impl Iterator<Item = (String, AttributeValue)> {
    let values =
        (!w.is_empty()).then(|| AttributeValue::M(w.values.iter().map(|(k, v)| (k.clone(), n(v.units()))).collect()));
    let currency = w.currency.clone().map(s);
    values.map(|m| (WEIGHTS.to_owned(), m)).into_iter().chain(currency.map(|c| (CURRENCY.to_owned(), c)))
}

const WEIGHTS: &str = "weights";
const CURRENCY: &str = "currency";

/// The key attributes of `key`, to start an item or to address one.
pub(crate) fn key_item(key: ItemKey) -> Item {
    HashMap::from([(attr::PK.to_owned(), s(key.pk)), (attr::SK.to_owned(), s(key.sk))])
}

/// Typed reads from a stored item.
pub(crate) struct Attrs<'a, S = std::hash::RandomState>(pub &'a HashMap<String, AttributeValue, S>);

impl<'a, S: std::hash::BuildHasher> Attrs<'a, S> {
    fn malformed(name: &str, what: &str) -> StoreError {
        StoreError::Malformed(format!("attribute {name} is missing or not {what}"))
    }

    pub fn opt_s(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
    }

    pub fn s(&self, name: &str) -> Result<&'a str, StoreError> {
        self.opt_s(name).ok_or_else(|| Self::malformed(name, "a string"))
    }

    pub fn opt_n(&self, name: &str) -> Result<Option<i64>, StoreError> {
        match self.0.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(v) => {
                v.as_n().ok().and_then(|n| n.parse().ok()).map(Some).ok_or_else(|| Self::malformed(name, "a number"))
            }
        }
    }

    pub fn n(&self, name: &str) -> Result<i64, StoreError> {
        self.opt_n(name)?.ok_or_else(|| Self::malformed(name, "a number"))
    }

    pub fn opt_time(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.opt_n(name)?.map(Timestamp::from_unix))
    }

    pub fn time(&self, name: &str) -> Result<Timestamp, StoreError> {
        self.n(name).map(Timestamp::from_unix)
    }

    pub fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let Some(value) = self.0.get(name) else { return Ok(BTreeMap::new()) };
        let map = value.as_m().map_err(|_| Self::malformed(name, "a map"))?;
        map.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_s().map_err(|_| Self::malformed(name, "a map of strings"))?.clone())))
            .collect()
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>, StoreError> {
        match self.0.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::L(list)) => {
                list.iter().map(|v| v.as_s().cloned().map_err(|_| Self::malformed(name, "a list of strings"))).collect()
            }
            Some(_) => Err(Self::malformed(name, "a list")),
        }
    }

    pub fn weights(&self) -> Result<Weights, StoreError> {
        let Some(value) = self.0.get(WEIGHTS) else { return Ok(Weights::default()) };
        let map = value.as_m().map_err(|_| Self::malformed(WEIGHTS, "a map"))?;
        let values = map
            .iter()
            .map(|(k, v)| {
                let units = v.as_n().ok().and_then(|n| n.parse().ok()).and_then(Weight::from_units);
                Ok((k.clone(), units.ok_or_else(|| Self::malformed(WEIGHTS, "a map of weights"))?))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Weights { currency: self.opt_s(CURRENCY).map(str::to_owned), values })
    }
}
