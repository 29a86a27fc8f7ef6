//! `validate`'s verdict in the formats CI systems read: a JUnit XML report (one test case per
//! object, a failure per object with findings) and GitHub Actions error annotations.

use super::validate::{Finding, Verdict};

/// A JUnit report: a test suite whose cases are the checked objects; a file that could not be
/// read is a failed case of its own.
pub fn junit(verdict: &Verdict) -> String {
    let failed_objects = verdict
        .objects
        .iter()
        .filter(|o| findings_of(verdict, &o.source, o.document).next().is_some())
        .count();
    let unreadable: Vec<&Finding> = verdict
        .findings
        .iter()
        .filter(|f| f.kind.is_empty())
        .collect();
    let tests = verdict.objects.len() + unreadable.len();
    let failures = failed_objects + unreadable.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"live-snapshot-operator validate\" tests=\"{tests}\" failures=\"{failures}\">\n  <testsuite name=\"validate\" tests=\"{tests}\" failures=\"{failures}\">\n"
    ));
    for o in &verdict.objects {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">",
            xml(&o.source),
            xml(&format!("{}/{} (document {})", o.kind, o.name, o.document))
        ));
        let found: Vec<String> = findings_of(verdict, &o.source, o.document)
            .map(|f| match f.field.is_empty() {
                true => f.message.clone(),
                false => format!("{}: {}", f.field, f.message),
            })
            .collect();
        if let Some(first) = found.first() {
            out.push_str(&format!(
                "\n      <failure message=\"{}\" type=\"invalid\">{}</failure>\n    ",
                xml(first),
                xml(&found.join("\n"))
            ));
        }
        out.push_str("</testcase>\n");
    }
    for f in unreadable {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"document {}\">\n      <failure message=\"{}\" type=\"unreadable\"/>\n    </testcase>\n",
            xml(&f.source),
            f.document,
            xml(&f.message)
        ));
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// GitHub Actions workflow commands: `::error file=...,title=...::message`, one per finding.
pub fn github(verdict: &Verdict) -> String {
    verdict
        .findings
        .iter()
        .map(|f| {
            let title = match f.kind.is_empty() {
                true => "unreadable".to_string(),
                false => format!("{}/{}", f.kind, f.name),
            };
            let message = match f.field.is_empty() {
                true => f.message.clone(),
                false => format!("{}: {}", f.field, f.message),
            };
            format!(
                "::error file={},title={}::{}\n",
                property(&f.source),
                property(&title),
                data(&format!("document {}: {message}", f.document))
            )
        })
        .collect()
}

fn findings_of<'a>(
    verdict: &'a Verdict,
    source: &'a str,
    document: usize,
) -> impl Iterator<Item = &'a Finding> + 'a {
    verdict
        .findings
        .iter()
        .filter(move |f| f.source == source && f.document == document && !f.kind.is_empty())
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Escaping of a workflow command's message, as GitHub's toolkit does it.
fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a workflow command's property value.
fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gitops::validate::Checked;

    fn verdict() -> Verdict {
        Verdict {
            checked: 2,
            skipped: 0,
            findings: vec![
                Finding {
                    source: "apps/a.yaml".into(),
                    document: 2,
                    kind: "VodAssetSnapshot".into(),
                    name: "v".into(),
                    field: "spec.thumbnail.dots".into(),
                    message: "Invalid value: [] has less than 1 item".into(),
                },
                Finding {
                    source: "apps/broken.yaml".into(),
                    document: 1,
                    kind: String::new(),
                    name: String::new(),
                    field: String::new(),
                    message: "not YAML: <mapping>, line 2".into(),
                },
            ],
            objects: vec![
                Checked {
                    source: "apps/a.yaml".into(),
                    document: 1,
                    kind: "LiveSnapshotTemplate".into(),
                    name: "ok".into(),
                },
                Checked {
                    source: "apps/a.yaml".into(),
                    document: 2,
                    kind: "VodAssetSnapshot".into(),
                    name: "v".into(),
                },
            ],
        }
    }

    #[test]
    fn junit_has_a_case_per_object_and_escapes() {
        let x = junit(&verdict());
        assert!(x.contains("tests=\"3\" failures=\"2\""), "{x}");
        assert!(
            x.contains("name=\"LiveSnapshotTemplate/ok (document 1)\"></testcase>"),
            "{x}"
        );
        assert!(x.contains("spec.thumbnail.dots: Invalid value: [] has less than 1 item"));
        assert!(x.contains("&lt;mapping&gt;"), "{x}");
    }

    #[test]
    fn github_annotations_escape_properties() {
        let g = github(&verdict());
        assert_eq!(g.lines().count(), 2);
        assert!(g.starts_with(
            "::error file=apps/a.yaml,title=VodAssetSnapshot/v::document 2: spec.thumbnail.dots:"
        ));
        assert!(g.contains("title=unreadable::document 1: not YAML: <mapping>, line 2"));
    }
}
