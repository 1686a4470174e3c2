//! Reading a settings document field by field, so that every problem is collected with its path
//! (serde stops at the first error and cannot say which of two keys is unknown).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// One problem in the settings, with the path of the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub path: String,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

/// Every problem found in one settings document, in document order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SettingsErrors(pub Vec<SettingsError>);

impl SettingsErrors {
    pub fn add(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.0.push(SettingsError {
            path: path.into(),
            problem: problem.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for SettingsErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Joins a parent path and a key: `signatures[0]` + `keyless` = `signatures[0].keyless`.
pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// The keys of one JSON object; keys never taken are reported as unknown by `finish`, because
/// a misspelt key would otherwise drop a constraint without a word.
pub struct Fields<'a> {
    path: String,
    map: &'a Map<String, Value>,
    taken: Vec<&'a str>,
}

impl<'a> Fields<'a> {
    pub fn of(value: &'a Value, path: &str, errors: &mut SettingsErrors) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Fields {
                path: path.to_string(),
                map,
                taken: Vec::new(),
            }),
            other => {
                errors.add(
                    path,
                    format!("must be an object, found {}", describe(other)),
                );
                None
            }
        }
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn path_of(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// The value under `key`; an explicit `null` (YAML `key:` with nothing after it) counts as absent.
    pub fn take(&mut self, key: &str) -> Option<&'a Value> {
        let (name, value) = self.map.get_key_value(key)?;
        self.taken.push(name.as_str());
        (!value.is_null()).then_some(value)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(|v| !v.is_null())
    }

    pub fn finish(self, known: &[&str], errors: &mut SettingsErrors) {
        for key in self.map.keys() {
            if !self.taken.contains(&key.as_str()) && !known.contains(&key.as_str()) {
                errors.add(
                    child(&self.path, key),
                    format!("unknown field; expected one of: {}", known.join(", ")),
                );
            }
        }
    }
}

pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

pub fn string(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<String> {
    match value {
        Value::String(s) if s.trim().is_empty() => {
            errors.add(path, "must not be empty");
            None
        }
        Value::String(s) => Some(s.clone()),
        other => {
            errors.add(path, format!("must be a string, found {}", describe(other)));
            None
        }
    }
}

pub fn boolean(value: &Value, path: &str, errors: &mut SettingsErrors) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        other => {
            errors.add(
                path,
                format!("must be true or false, found {}", describe(other)),
            );
            None
        }
    }
}

/// A non-empty list whose items are read by `read_item`; `None` if anything in it was wrong.
pub fn list<T>(
    value: &Value,
    path: &str,
    errors: &mut SettingsErrors,
    mut read_item: impl FnMut(&Value, &str, &mut SettingsErrors) -> Option<T>,
) -> Option<Vec<T>> {
    let Value::Array(items) = value else {
        errors.add(path, format!("must be a list, found {}", describe(value)));
        return None;
    };
    if items.is_empty() {
        errors.add(path, "must not be empty");
        return None;
    }
    let before = errors.0.len();
    let read: Vec<T> = items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| read_item(v, &item(path, i), errors))
        .collect();
    (errors.0.len() == before).then_some(read)
}

pub fn string_map(
    value: &Value,
    path: &str,
    errors: &mut SettingsErrors,
) -> Option<BTreeMap<String, String>> {
    let Value::Object(map) = value else {
        errors.add(
            path,
            format!("must be a map of strings, found {}", describe(value)),
        );
        return None;
    };
    let before = errors.0.len();
    let mut out = BTreeMap::new();
    for (key, v) in map {
        match v {
            Value::String(s) => {
                out.insert(key.clone(), s.clone());
            }
            other => errors.add(
                child(path, key),
                format!(
                    "must be a string, found {} (quote it in YAML)",
                    describe(other)
                ),
            ),
        }
    }
    (errors.0.len() == before).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_unknown_keys_with_their_path() {
        let doc = json!({"image": "x", "pubkeys": []});
        let mut errors = SettingsErrors::default();
        let mut fields = Fields::of(&doc, "signatures[0]", &mut errors).unwrap();
        assert!(fields.take("image").is_some());
        fields.finish(&["image", "pubKeys"], &mut errors);
        assert_eq!(
            errors.to_string(),
            "signatures[0].pubkeys: unknown field; expected one of: image, pubKeys"
        );
    }

    #[test]
    fn null_counts_as_absent_but_is_not_unknown() {
        let doc = json!({"annotations": null});
        let mut errors = SettingsErrors::default();
        let mut fields = Fields::of(&doc, "", &mut errors).unwrap();
        assert!(fields.take("annotations").is_none());
        fields.finish(&["annotations"], &mut errors);
        assert!(errors.is_empty());
    }

    #[test]
    fn list_collects_every_bad_item() {
        let doc = json!(["a", 1, "", true]);
        let mut errors = SettingsErrors::default();
        assert_eq!(list(&doc, "keys", &mut errors, string), None);
        assert_eq!(
            errors.to_string(),
            "keys[1]: must be a string, found a number; keys[2]: must not be empty; keys[3]: must be a string, found a boolean"
        );
    }

    #[test]
    fn string_map_wants_strings() {
        let mut errors = SettingsErrors::default();
        assert_eq!(string_map(&json!({"v": 1}), "a", &mut errors), None);
        assert_eq!(
            errors.to_string(),
            "a.v: must be a string, found a number (quote it in YAML)"
        );
        let mut errors = SettingsErrors::default();
        let map = string_map(&json!({"env": "prod"}), "a", &mut errors).unwrap();
        assert_eq!(map.get("env").map(String::as_str), Some("prod"));
    }
}
