//! The generated API against the real OpenCode 1.18.34 server (one per test binary, loopback mock model): every
//! operation that needs no real provider or external service is called, its answer decoded through its
//! generated type; a scripted chat's events all decode to typed variants; the v2 streams open typed.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use futures_lite::StreamExt;
use serde_json::{json, Value};

use plue_http::tokio::opencode::OpenCodeClient;
use plue_http_tests::opencode_fixture::shared;
use plue_opencode::api::operation::find;
use plue_opencode::api::{CallOptions, VersionCheck};
use plue_opencode::generated::{ops, types};
use plue_opencode::{EventItem, OpenCodeOptions};

fn client() -> OpenCodeClient {
    OpenCodeClient::new(OpenCodeOptions::new(shared().0)).unwrap()
}

/// Call `id` by name, then decode the answer through its generated type: the typed decode must accept what the
/// real server sends, and keep every member of it.
async fn sweep(
    c: &OpenCodeClient,
    id: &str,
    args: &[(&str, &str)],
    body: Option<Value>,
    opts: &CallOptions,
) -> Value {
    let info = find(id).unwrap_or_else(|| panic!("no operation {id}"));
    let args: Vec<(String, String)> = args
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let value = c
        .send_raw(id, &args, body.as_ref(), opts)
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    if let Some(decode) = info.decode {
        let bytes = serde_json::to_vec(&value).unwrap();
        let back = decode(&bytes).unwrap_or_else(|e| panic!("{id}: typed decode: {e}\n{value}"));
        assert_eq!(
            numeric(back),
            numeric(value.clone()),
            "{id}: typed decode lost or changed members"
        );
    }
    value
}

fn numeric(v: Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.into_iter().map(numeric).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, numeric(v)))
                .collect(),
        ),
        other => other,
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=plue",
            "-c",
            "user.email=plue@invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn opencode_api_contract_reads_without_a_provider() {
    let c = client();
    let none = CallOptions::default();
    assert_eq!(
        c.check_version().await.unwrap(),
        VersionCheck::Same {
            version: "1.18.34".into()
        }
    );
    for id in [
        "global.health",
        "global.config.get",
        "config.get",
        "config.providers",
        "path.get",
        "command.list",
        "app.agents",
        "app.skills",
        "lsp.status",
        "formatter.status",
        "mcp.status",
        "project.list",
        "project.current",
        "pty.shells",
        "pty.list",
        "question.list",
        "permission.list",
        "session.list",
        "session.status",
        "file.status",
        "tool.ids",
        "experimental.session.list",
        "experimental.resource.list",
        "v2.health.get",
        "v2.location.get",
        "v2.agent.list",
        "v2.session.list",
        "v2.session.active",
        "v2.command.list",
        "v2.skill.list",
        "v2.pty.list",
        "v2.permission.request.list",
        "v2.question.request.list",
    ] {
        sweep(&c, id, &[], None, &none).await;
    }
    let files = sweep(&c, "file.list", &[("path", ".")], None, &none).await;
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "opencode.json"),
        "{files}"
    );
    let content = sweep(&c, "file.read", &[("path", "opencode.json")], None, &none).await;
    assert!(content.to_string().contains("mock/echo"), "{content}");
    sweep(&c, "find.files", &[("query", "opencode")], None, &none).await;
    // `find.text` and `find.symbols` need ripgrep / a language server the server downloads: not exercised.
    sweep(&c, "v2.fs.list", &[], None, &none).await;

    // Typed calls, the same operations through their generated structs.
    let agents = c.send(&ops::AppAgents::default()).await.unwrap();
    assert!(!agents.is_empty());
    let files = c.send(&ops::FileList { path: ".".into() }).await.unwrap();
    assert!(files.iter().any(|f| f.name == "opencode.json"), "{files:?}");
    let project = c.send(&ops::ProjectCurrent::default()).await.unwrap();
    assert!(!project.id.is_empty());
    let health = c.send(&ops::GlobalHealth::default()).await.unwrap();
    assert_eq!(health.version, "1.18.34");
}

#[tokio::test]
async fn opencode_api_contract_vcs_on_a_git_repository() {
    let c = client();
    let repo = std::env::temp_dir().join(format!("plue-vcs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("a.txt"), "one\n").unwrap();
    git(&repo, &["add", "a.txt"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    std::fs::write(repo.join("a.txt"), "one\ntwo\n").unwrap();
    let opts = CallOptions::default().directory(repo.to_str().unwrap());
    let vcs = sweep(&c, "vcs.get", &[], None, &opts).await;
    assert_eq!(vcs["branch"], "main", "{vcs}");
    let status = sweep(&c, "vcs.status", &[], None, &opts).await;
    assert!(status.to_string().contains("a.txt"), "{status}");
    let diff = sweep(&c, "vcs.diff", &[("mode", "git")], None, &opts).await;
    assert!(diff.to_string().contains("a.txt"), "{diff}");
    let raw = sweep(&c, "vcs.diff.raw", &[], None, &opts).await;
    assert!(raw.as_str().unwrap_or("").contains("+two"), "{raw}");
    let typed = c.send_with(&ops::VcsGet::default(), &opts).await.unwrap();
    assert_eq!(typed.branch.as_deref(), Some("main"));
    let _ = std::fs::remove_dir_all(&repo);
}

#[tokio::test]
async fn opencode_api_contract_sessions_pty_and_tui() {
    let c = client();
    let none = CallOptions::default();
    let s = c
        .send(&ops::SessionCreate {
            body: Some(types::SessionCreateBody {
                title: Some("contract".into()),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let id = s.id.as_str();
    for op in [
        "session.get",
        "session.children",
        "session.todo",
        "session.diff",
        "session.messages",
        "v2.session.get",
        "v2.session.messages",
        "v2.session.permission.list",
        "v2.session.question.list",
    ] {
        sweep(&c, op, &[("sessionID", id)], None, &none).await;
    }
    let updated = sweep(
        &c,
        "session.update",
        &[("sessionID", id)],
        Some(json!({"title": "renamed"})),
        &none,
    )
    .await;
    assert_eq!(updated["title"], "renamed");
    let fork = sweep(
        &c,
        "session.fork",
        &[("sessionID", id)],
        Some(json!({})),
        &none,
    )
    .await;
    let fork_id = fork["id"].as_str().unwrap().to_string();
    assert_eq!(
        sweep(&c, "session.abort", &[("sessionID", id)], None, &none).await,
        json!(true)
    );
    assert_eq!(
        sweep(
            &c,
            "session.delete",
            &[("sessionID", &fork_id)],
            None,
            &none
        )
        .await,
        json!(true)
    );
    assert!(c
        .send(&ops::SessionDelete {
            session_id: s.id.clone()
        })
        .await
        .unwrap());

    // A PTY, created, read, renamed and removed without ever connecting.
    let pty = sweep(
        &c,
        "pty.create",
        &[],
        Some(json!({"command": "/bin/sh", "title": "contract"})),
        &none,
    )
    .await;
    let pty_id = pty["id"].as_str().unwrap().to_string();
    sweep(&c, "pty.get", &[("ptyID", &pty_id)], None, &none).await;
    sweep(
        &c,
        "pty.update",
        &[("ptyID", &pty_id)],
        Some(json!({"title": "renamed"})),
        &none,
    )
    .await;
    let listed = c.send(&ops::PtyList::default()).await.unwrap();
    assert!(listed.iter().any(|p| p.id == pty_id));
    sweep(&c, "pty.remove", &[("ptyID", &pty_id)], None, &none).await;
    let err = c
        .send(&ops::PtyConnect {
            pty_id,
            cursor: None,
            ticket: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        plue_http::core::ErrorKind::Unsupported {
            operation: "pty.connect",
            ..
        }
    ));

    // TUI endpoints answer without a TUI attached.
    for (op, body) in [
        ("tui.appendPrompt", Some(json!({"text": "hello"}))),
        ("tui.clearPrompt", None),
        ("tui.openHelp", None),
        ("tui.openSessions", None),
        ("tui.openThemes", None),
        ("tui.openModels", None),
        (
            "tui.showToast",
            Some(json!({"message": "hi", "variant": "info"})),
        ),
        (
            "tui.executeCommand",
            Some(json!({"command": "session_new"})),
        ),
    ] {
        sweep(&c, op, &[], body, &none).await;
    }
}

#[tokio::test]
async fn opencode_api_contract_scripted_chat_events_are_all_typed() {
    let c = client();
    let mut events = c.typed_events();
    // The greeting: the stream is live before the chat starts.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("greeting")
        {
            Some(Ok(EventItem::Event(types::Event::ServerConnected(_)))) => break,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    let s = c.send(&ops::SessionCreate::default()).await.unwrap();
    let body: types::SessionPromptBody = serde_json::from_value(json!({
        "parts": [{"type": "text", "text": "Say hello"}],
        "model": {"providerID": "mock", "modelID": "echo"}
    }))
    .unwrap();
    let prompt_op = ops::SessionPrompt {
        session_id: s.id.clone(),
        body: Some(body),
    };
    let prompt = c.send(&prompt_op);
    let collect = async {
        let mut kinds = BTreeSet::new();
        let mut unknown = Vec::new();
        loop {
            let item = tokio::time::timeout(Duration::from_secs(60), events.next())
                .await
                .expect("events");
            match item {
                Some(Ok(EventItem::Event(ev))) => {
                    if ev.is_unknown() {
                        unknown.push(serde_json::to_string(&ev).unwrap());
                    }
                    kinds.insert(ev.tag().unwrap_or("").to_string());
                    if let types::Event::SessionIdle(idle) = &ev {
                        if idle.properties.session_id == s.id {
                            return (kinds, unknown);
                        }
                    }
                }
                Some(Ok(EventItem::Stream(plue_http_core::sse::StreamEvent::Event(raw)))) => {
                    unknown.push(format!("undecodable: {}", raw.data));
                }
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    };
    let (answer, (kinds, unknown)) = futures_lite::future::zip(prompt, collect).await;
    let answer = answer.unwrap();
    assert_eq!(answer.info.session_id, s.id);
    assert!(
        unknown.is_empty(),
        "events without a typed variant: {unknown:#?}"
    );
    for k in [
        "session.created",
        "message.updated",
        "message.part.updated",
        "session.status",
        "session.idle",
    ] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn opencode_api_contract_v2_and_global_streams_open_typed() {
    let c = client();
    let mut v2 = c.v2_events(CallOptions::default());
    let ev = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match v2.next().await {
                Some(Ok(EventItem::Event(ev))) => return ev,
                Some(Ok(EventItem::Stream(plue_http_core::sse::StreamEvent::Event(raw)))) => {
                    panic!("undecodable: {}", raw.data)
                }
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("a v2 event");
    assert!(!ev.is_unknown(), "{ev:?}");
    let mut global = c.typed_global_events();
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(Ok(EventItem::Event(ev))) = global.next().await {
                return ev;
            }
        }
    })
    .await
    .expect("a global event");
    assert!(!first.payload.is_unknown(), "{first:?}");
}
