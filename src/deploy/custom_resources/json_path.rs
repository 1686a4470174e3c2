//! The JSONPath subset `customResources` reads (RFC 9535 semantics): enough to name image
//! strings in any resource, small enough for the module's size budget (jsonpath_lib would
//! cost 88 KiB, a fifth of the whole module). Anything outside the subset is a settings error, never a guess.

use serde_json::Value;

/// A step from a value to one of its children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Which children a segment takes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Name(String),
    Index(usize),
    Wildcard,
}

/// `.sel` / `[sel]` takes children of the current nodes; `..sel` of them and every
/// descendant.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Child(Selector),
    Descendant(Selector),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Vec<Segment>);

/// More nodes than any object a policy should see holds images at; past it the path (`$..*`
/// on a huge object, say) is refused rather than left to run out the webhook's time.
const MAX_NODES: usize = 10_000;

pub const SUPPORTED: &str =
    "supported: $ then .name, ['name'], [n], [*], .*, ..name, ..[n], ..[*] or ..*";

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let mut rest = text
            .strip_prefix('$')
            .ok_or("must start at the object's root, \"$\"")?;
        let mut segments = Vec::new();
        while !rest.is_empty() {
            let at = text.len() - rest.len();
            let unexpected = |rest: &str| {
                let c = rest.chars().next().unwrap_or(' ');
                format!("unexpected {c:?} at character {}; {SUPPORTED}", at + 1)
            };
            let (segment, after) = if let Some(after) = rest.strip_prefix("..") {
                let (selector, after) = match after.strip_prefix('[') {
                    Some(inner) => bracket(inner).ok_or_else(|| unexpected(rest))?,
                    None => dotted(after).ok_or_else(|| unexpected(rest))?,
                };
                (Segment::Descendant(selector), after)
            } else if let Some(after) = rest.strip_prefix('.') {
                let (selector, after) = dotted(after).ok_or_else(|| unexpected(rest))?;
                (Segment::Child(selector), after)
            } else if let Some(after) = rest.strip_prefix('[') {
                let (selector, after) = bracket(after).ok_or_else(|| unexpected(rest))?;
                (Segment::Child(selector), after)
            } else {
                return Err(unexpected(rest));
            };
            segments.push(segment);
            rest = after;
        }
        Ok(JsonPath(segments))
    }

    /// Every value the path selects in `root`, with the steps that lead to it, in document
    /// order per segment (object keys in the order the policy's JSON maps keep them, sorted).
    pub fn select<'a>(&self, root: &'a Value) -> Result<Vec<(Vec<PathStep>, &'a Value)>, String> {
        let mut nodes = vec![(Vec::new(), root)];
        for segment in &self.0 {
            let mut next = Vec::new();
            for (steps, value) in &nodes {
                match segment {
                    Segment::Child(selector) => children(selector, steps, value, &mut next),
                    Segment::Descendant(selector) => {
                        descend(selector, steps.clone(), value, &mut next)?
                    }
                }
                if next.len() > MAX_NODES {
                    return Err(format!("selects more than {MAX_NODES} values"));
                }
            }
            nodes = next;
        }
        Ok(nodes)
    }
}

/// After a `.`: a name of letters, digits, `_` and `-`, or `*`.
fn dotted(text: &str) -> Option<(Selector, &str)> {
    if let Some(rest) = text.strip_prefix('*') {
        return Some((Selector::Wildcard, rest));
    }
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(text.len());
    (end > 0).then(|| (Selector::Name(text[..end].to_string()), &text[end..]))
}

/// After a `[`: `*`, a non-negative index or a quoted name (no escapes), then `]`.
fn bracket(text: &str) -> Option<(Selector, &str)> {
    let (selector, rest) = if let Some(rest) = text.strip_prefix('*') {
        (Selector::Wildcard, rest)
    } else if let Some(quote) = text.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let body = &text[1..];
        let end = body.find(quote)?;
        let name = &body[..end];
        if name.contains('\\') {
            return None;
        }
        (Selector::Name(name.to_string()), &body[end + 1..])
    } else {
        let end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let digits = &text[..end];
        // No leading zeros, as RFC 9535 says; an index past usize is no index.
        if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
            return None;
        }
        (Selector::Index(digits.parse().ok()?), &text[end..])
    };
    rest.strip_prefix(']').map(|rest| (selector, rest))
}

fn children<'a>(
    selector: &Selector,
    steps: &[PathStep],
    value: &'a Value,
    out: &mut Vec<(Vec<PathStep>, &'a Value)>,
) {
    let with = |step: PathStep| {
        let mut steps = steps.to_vec();
        steps.push(step);
        steps
    };
    match (selector, value) {
        (Selector::Name(name), Value::Object(map)) => {
            if let Some(child) = map.get(name) {
                out.push((with(PathStep::Key(name.clone())), child));
            }
        }
        (Selector::Index(i), Value::Array(items)) => {
            if let Some(child) = items.get(*i) {
                out.push((with(PathStep::Index(*i)), child));
            }
        }
        (Selector::Wildcard, Value::Object(map)) => {
            for (key, child) in map {
                out.push((with(PathStep::Key(key.clone())), child));
            }
        }
        (Selector::Wildcard, Value::Array(items)) => {
            for (i, child) in items.iter().enumerate() {
                out.push((with(PathStep::Index(i)), child));
            }
        }
        _ => {}
    }
}

/// The selector applied to `value` and to every descendant, parents before children.
fn descend<'a>(
    selector: &Selector,
    mut steps: Vec<PathStep>,
    value: &'a Value,
    out: &mut Vec<(Vec<PathStep>, &'a Value)>,
) -> Result<(), String> {
    children(selector, &steps, value, out);
    if out.len() > MAX_NODES {
        return Err(format!("selects more than {MAX_NODES} values"));
    }
    let descendants: Vec<(PathStep, &Value)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (PathStep::Key(k.clone()), v))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (PathStep::Index(i), v))
            .collect(),
        _ => Vec::new(),
    };
    for (step, child) in descendants {
        steps.push(step);
        descend(selector, steps.clone(), child, out)?;
        steps.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn document() -> Value {
        json!({
            "spec": {
                "image": "top:1",
                "steps": [{"name": "a", "image": "a:1"}, {"name": "b"}, {"image": "c:1"}],
                "sidecars": [{"image": "s:1", "env": [{"image": "not-an-image-field"}]}],
                "example.com/image": "quoted:1"
            }
        })
    }

    /// The JSON pointers of what `path` selects, in order.
    fn pointers(path: &str) -> Vec<String> {
        let document = document();
        JsonPath::parse(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .select(&document)
            .unwrap()
            .into_iter()
            .map(|(steps, value)| {
                let pointer: String = steps
                    .iter()
                    .map(|s| match s {
                        PathStep::Key(k) => format!("/{k}"),
                        PathStep::Index(i) => format!("/{i}"),
                    })
                    .collect();
                // The steps lead to the value selected.
                assert_eq!(
                    document.pointer(&pointer.replace("example.com/", "example.com~1")),
                    Some(value)
                );
                pointer
            })
            .collect()
    }

    #[rstest]
    #[case("$", &[""])]
    #[case("$.spec.image", &["/spec/image"])]
    #[case("$['spec'][\"image\"]", &["/spec/image"])]
    #[case("$.spec.steps[*].image", &["/spec/steps/0/image", "/spec/steps/2/image"])]
    #[case("$.spec.steps[2].image", &["/spec/steps/2/image"])]
    #[case("$.spec.steps[3].image", &[])]
    #[case("$.spec.steps.*.name", &["/spec/steps/0/name", "/spec/steps/1/name"])]
    #[case("$.spec['example.com/image']", &["/spec/example.com/image"])]
    #[case("$.spec.missing[*].image", &[])]
    #[case("$.spec.image.deeper", &[])]
    #[case("$.spec.sidecars[0]..image", &["/spec/sidecars/0/image", "/spec/sidecars/0/env/0/image"])]
    #[case("$..image", &["/spec/image", "/spec/sidecars/0/image", "/spec/sidecars/0/env/0/image", "/spec/steps/0/image", "/spec/steps/2/image"])]
    #[case("$..steps[1]", &["/spec/steps/1"])]
    #[case("$.spec..[0].name", &["/spec/steps/0/name"])]
    fn selects_like_rfc_9535(#[case] path: &str, #[case] expected: &[&str]) {
        assert_eq!(pointers(path), expected);
    }

    #[rstest]
    #[case("", "must start at the object's root, \"$\"")]
    #[case("spec.image", "must start at the object's root, \"$\"")]
    #[case("$.", "unexpected '.' at character 2")]
    #[case("$..", "unexpected '.' at character 2")]
    #[case("$[", "unexpected '[' at character 2")]
    #[case("$.a[", "unexpected '[' at character 4")]
    #[case("$.a[*", "unexpected '[' at character 4")]
    #[case("$.a['b]", "unexpected '[' at character 4")]
    #[case("$.a['b\\'c']", "unexpected '[' at character 4")]
    #[case("$.a[-1]", "unexpected '[' at character 4")]
    #[case("$.a[01]", "unexpected '[' at character 4")]
    #[case("$.a[99999999999999999999999]", "unexpected '[' at character 4")]
    #[case("$.a[0:2]", "unexpected '[' at character 4")]
    #[case("$.a[0,1]", "unexpected '[' at character 4")]
    #[case("$.a[?(@.b == 'x')]", "unexpected '[' at character 4")]
    #[case("$.a b", "unexpected ' ' at character 4")]
    #[case("$$", "unexpected '$' at character 2")]
    #[case(
        "$.spec.template.spec.containers[*].image)",
        "unexpected ')' at character 41"
    )]
    fn refuses_what_it_does_not_read(#[case] path: &str, #[case] expected: &str) {
        let error = JsonPath::parse(path).expect_err(path);
        assert!(error.starts_with(expected), "{path}: {error}");
    }

    #[test]
    fn a_path_selecting_too_much_is_an_error_not_a_hang() {
        let wide = Value::Array(
            (0..3000)
                .map(|i| json!({"image": i, "x": {"y": i}}))
                .collect(),
        );
        let path = JsonPath::parse("$..*").unwrap();
        assert_eq!(
            path.select(&wide).unwrap_err(),
            "selects more than 10000 values"
        );
        assert_eq!(
            JsonPath::parse("$[*].image")
                .unwrap()
                .select(&wide)
                .unwrap()
                .len(),
            3000
        );
    }
}
