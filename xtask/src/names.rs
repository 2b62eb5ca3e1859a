//! Rust names from JSON names.

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// `session.prompt_async` / `EventModels-devRefreshed` / `effect_HttpApiError_BadRequest` → `CamelCase`.
pub fn camel(s: &str) -> String {
    let mut out = String::new();
    for piece in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = piece.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.is_empty() {
        out.push_str("Empty");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `sessionID` → `session_id`, `type` → `r#type`.
pub fn snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = if i > 0 { Some(chars[i - 1]) } else { None };
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    let mut collapsed = String::new();
    for c in out.chars() {
        if c == '_' && (collapsed.is_empty() || collapsed.ends_with('_')) {
            continue;
        }
        collapsed.push(c);
    }
    while collapsed.ends_with('_') {
        collapsed.pop();
    }
    if collapsed.is_empty() {
        collapsed.push_str("field");
    }
    if collapsed.starts_with(|c: char| c.is_ascii_digit()) {
        collapsed.insert_str(0, "f_");
    }
    if matches!(collapsed.as_str(), "self" | "super" | "crate" | "extra") {
        collapsed.push('_');
    } else if KEYWORDS.contains(&collapsed.as_str()) {
        collapsed.insert_str(0, "r#");
    }
    collapsed
}

/// A Rust string literal.
pub fn lit(s: &str) -> String {
    format!("{s:?}")
}

/// Doc comment lines (`///`) from a description: fences and indentation defused so rustdoc runs no doctests.
pub fn doc(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim().replace("```", "'''");
        out.push_str("///");
        if !line.is_empty() {
            out.push(' ');
            out.push_str(&line);
        }
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("///\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("sessionID"), "session_id");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("HTTPServer"), "http_server");
        assert_eq!(snake("location[directory]"), "location_directory");
        assert_eq!(camel("session.prompt_async"), "SessionPromptAsync");
        assert_eq!(camel("EventModels-devRefreshed"), "EventModelsDevRefreshed");
    }
}
