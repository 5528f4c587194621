//! Just enough of the Kubernetes protobuf encoding to read a SelfSubjectAccessReview, which
//! `kubectl auth can-i` always sends as protobuf. Every other protobuf body is refused with 415
//! (see `docs/sandbox.md`); this reader never guesses at other kinds.

use serde_json::{Value, json};

/// The four-byte prefix of Kubernetes protobuf bodies.
const MAGIC: &[u8] = b"k8s\0";

/// One decoded field: number and payload (varints are dropped; only strings and messages
/// matter here).
fn fields(mut bytes: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (key, rest) = varint(bytes)?;
        bytes = rest;
        match key & 7 {
            0 => bytes = varint(bytes)?.1,
            1 => bytes = bytes.get(8..)?,
            2 => {
                let (len, rest) = varint(bytes)?;
                let len = usize::try_from(len).ok()?;
                out.push((key >> 3, rest.get(..len)?));
                bytes = rest.get(len..)?;
            }
            5 => bytes = bytes.get(4..)?,
            _ => return None,
        }
    }
    Some(out)
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

fn field<'a>(list: &[(u64, &'a [u8])], number: u64) -> Option<&'a [u8]> {
    list.iter().find(|(n, _)| *n == number).map(|(_, b)| *b)
}

fn text(list: &[(u64, &[u8])], number: u64) -> String {
    field(list, number)
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// A protobuf `authorization.k8s.io/v1` SelfSubjectAccessReview as JSON, or `None` when the
/// body is anything else.
pub fn decode_access_review(body: &[u8]) -> Option<Value> {
    let unknown = fields(body.strip_prefix(MAGIC)?)?;
    let type_meta = fields(field(&unknown, 1)?)?;
    if text(&type_meta, 2) != "SelfSubjectAccessReview" {
        return None;
    }
    let review = fields(field(&unknown, 2)?)?;
    let spec = fields(field(&review, 2).unwrap_or_default())?;
    let mut json_spec = json!({});
    if let Some(attrs) = field(&spec, 1) {
        let attrs = fields(attrs)?;
        let names = [
            "namespace",
            "verb",
            "group",
            "version",
            "resource",
            "subresource",
            "name",
        ];
        let mut out = serde_json::Map::new();
        for (i, name) in names.iter().enumerate() {
            let value = text(&attrs, i as u64 + 1);
            if !value.is_empty() {
                out.insert((*name).to_owned(), json!(value));
            }
        }
        json_spec["resourceAttributes"] = Value::Object(out);
    } else if let Some(attrs) = field(&spec, 2) {
        let attrs = fields(attrs)?;
        json_spec["nonResourceAttributes"] =
            json!({"path": text(&attrs, 1), "verb": text(&attrs, 2)});
    }
    Some(
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "metadata": {}, "spec": json_spec}),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(fields: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (number, payload) in fields {
            out.push((number << 3) | 2);
            out.push(u8::try_from(payload.len()).unwrap());
            out.extend_from_slice(payload);
        }
        out
    }

    #[test]
    fn decodes_kubectl_auth_can_i() {
        let attrs = message(&[
            (1, b"prod".to_vec()),
            (2, b"patch".to_vec()),
            (3, b"argoproj.io".to_vec()),
            (5, b"rollouts".to_vec()),
        ]);
        let spec = message(&[(1, attrs)]);
        let review = message(&[(1, Vec::new()), (2, spec)]);
        let type_meta = message(&[
            (1, b"authorization.k8s.io/v1".to_vec()),
            (2, b"SelfSubjectAccessReview".to_vec()),
        ]);
        let mut body = MAGIC.to_vec();
        body.extend(message(&[(1, type_meta), (2, review)]));
        let decoded = decode_access_review(&body).unwrap();
        assert_eq!(
            decoded["spec"]["resourceAttributes"],
            json!({"namespace": "prod", "verb": "patch", "group": "argoproj.io", "resource": "rollouts"})
        );
        assert!(decode_access_review(b"k8s\0garbage").is_none());
        assert!(decode_access_review(b"{}").is_none());
    }
}
