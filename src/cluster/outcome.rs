//! What apply and teardown did to each object: a line of text each, or
//! with `-o json` one JSON object per line, for pipelines.

use std::io::Write;

pub struct Outcomes<'a> {
    out: &'a mut dyn Write,
    json: bool,
}

impl<'a> Outcomes<'a> {
    pub fn new(out: &'a mut dyn Write, json: bool) -> Outcomes<'a> {
        Outcomes { out, json }
    }

    /// `object` (`Kind/namespace/name`) was `action` (applied, pruned,
    /// released, deleted, kept), with why or how in `detail`.
    pub fn record(
        &mut self,
        object: &str,
        action: &str,
        detail: Option<&str>,
    ) -> std::io::Result<()> {
        if self.json {
            let mut line = serde_json::json!({"object": object, "action": action});
            if let Some(detail) = detail {
                line["detail"] = detail.into();
            }
            return writeln!(self.out, "{line}");
        }
        match detail {
            Some(detail) => writeln!(self.out, "{object} {action} ({detail})"),
            None => writeln!(self.out, "{object} {action}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_is_a_line_of_text_or_of_json() {
        let mut text = Vec::new();
        let mut outcomes = Outcomes::new(&mut text, false);
        outcomes
            .record("Service/ns/redis", "applied", None)
            .unwrap();
        outcomes
            .record(
                "ConfigMap/ns/app",
                "released",
                Some("other managers keep it: kubectl"),
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "Service/ns/redis applied\nConfigMap/ns/app released (other managers keep it: kubectl)\n"
        );
        let mut json = Vec::new();
        let mut outcomes = Outcomes::new(&mut json, true);
        outcomes
            .record("Service/ns/redis", "applied", None)
            .unwrap();
        outcomes
            .record(
                "PersistentVolumeClaim/ns/data-redis-0",
                "kept",
                Some("data (1Gi)"),
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(json).unwrap(),
            "{\"object\":\"Service/ns/redis\",\"action\":\"applied\"}\n\
             {\"object\":\"PersistentVolumeClaim/ns/data-redis-0\",\"action\":\"kept\",\"detail\":\"data (1Gi)\"}\n"
        );
    }
}
