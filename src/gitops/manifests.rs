//! Reading manifests the way a GitOps repo holds them: files and directories (recursively),
//! multi-document YAML or JSON, and standard input (`-`, for `kustomize build | … validate -`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One YAML document of one source.
#[derive(Debug, Clone)]
pub struct Document {
    /// File path, or `-` for standard input.
    pub source: String,
    /// 1-based position of the document in its source.
    pub index: usize,
    pub value: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: document {index}: not YAML: {source}")]
    Yaml {
        path: String,
        index: usize,
        source: serde_yaml::Error,
    },
}

/// Every document of every path, in a stable order (directories sorted by name).
pub fn read(paths: &[PathBuf]) -> Result<Vec<Document>, ReadError> {
    let (docs, mut unreadable) = read_lenient(paths)?;
    match unreadable.is_empty() {
        true => Ok(docs),
        false => Err(unreadable.remove(0)),
    }
}

/// Like `read`, but a file that is not YAML is returned beside the documents instead of ending
/// the run: one broken file in a repository should not hide the findings of all the others.
/// A path that cannot be read at all is still an error.
pub fn read_lenient(paths: &[PathBuf]) -> Result<(Vec<Document>, Vec<ReadError>), ReadError> {
    let mut files = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            files.push(p.clone());
        } else {
            collect(p, &mut files)?;
        }
    }
    let mut docs = Vec::new();
    let mut unreadable = Vec::new();
    for f in files {
        let (source, text) = if f.as_os_str() == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| {
                ReadError::Io {
                    path: "-".into(),
                    source: e,
                }
            })?;
            ("-".to_string(), s)
        } else {
            let s = std::fs::read_to_string(&f).map_err(|e| ReadError::Io {
                path: f.display().to_string(),
                source: e,
            })?;
            (f.display().to_string(), s)
        };
        match parse(&source, &text) {
            Ok(parsed) => docs.extend(parsed),
            Err(e) => unreadable.push(e),
        }
    }
    Ok((docs, unreadable))
}

/// The documents of one text; empty documents (a trailing `---`) are skipped but counted, so
/// indexes match what an editor shows.
pub fn parse(source: &str, text: &str) -> Result<Vec<Document>, ReadError> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_json::Value::deserialize(doc).map_err(|e| ReadError::Yaml {
            path: source.to_string(),
            index: i + 1,
            source: e,
        })?;
        if !value.is_null() {
            out.push(Document {
                source: source.to_string(),
                index: i + 1,
                value,
            });
        }
    }
    Ok(out)
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let io = |e| ReadError::Io {
        path: path.display().to_string(),
        source: e,
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            let hidden = e
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            if e.is_dir() {
                collect(&e, out)?;
            } else if matches!(
                e.extension().and_then(|x| x.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(e);
            }
        }
        Ok(())
    } else {
        std::fs::metadata(path).map_err(io)?;
        out.push(path.to_path_buf());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_keeps_editor_indexes() {
        let docs = parse("x.yaml", "a: 1\n---\n---\nb: 2\n---\n").unwrap();
        assert_eq!(docs.iter().map(|d| d.index).collect::<Vec<_>>(), vec![1, 3]);
        assert!(parse("x.yaml", "a: [1\n").is_err());
    }
}
